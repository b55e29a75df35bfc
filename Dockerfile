# Node 24 runs the TypeScript sources directly: the only build output is the console's assets.
FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
# client/ is a workspace (the typed client the CLI uses): npm ci needs its package.json.
COPY package.json package-lock.json ./
COPY client/package.json ./client/
RUN npm ci --omit=dev --ignore-scripts

# The operators' console (Preact + Vite, both devDependencies): built here, since the runtime stage
# installs no devDependencies and runs no install scripts (npm ci's `prepare` builds it elsewhere).
FROM node:24-bookworm-slim AS console
WORKDIR /app
COPY package.json package-lock.json ./
COPY client/package.json ./client/
RUN npm ci --ignore-scripts
COPY client ./client
COPY console ./console
RUN npm run build:console

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
COPY schedules ./schedules
COPY webhooks ./webhooks
COPY services ./services
COPY client ./client
# Where services/api/console.routes.ts serves /console from.
COPY --from=console /app/console/dist ./console/dist
# Workers talk to the Docker socket, which is root-owned; the other roles could run as `node`.
ENTRYPOINT ["node", "services/main.ts"]
CMD ["all"]
