# Node 24 runs the TypeScript sources directly: there is no build output, only dependencies.
FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY schemas ./schemas
COPY events ./events
COPY jobs ./jobs
COPY files ./files
COPY secrets ./secrets
COPY workers ./workers
COPY services ./services
# Workers talk to the Docker socket, which is root-owned; the other roles could run as `node`.
ENTRYPOINT ["node", "services/main.ts"]
CMD ["all"]
