import { defineConfig } from 'vite';

// Built by `npm run build:console` (npm ci runs it as `prepare`) into console/dist, which the API
// serves at /console. Vite 8 transforms with Oxc; Preact's automatic JSX runtime needs no plugin.
export default defineConfig({
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Everything as files: the page's Content-Security-Policy allows no inline script or style.
    assetsInlineLimit: 0,
    // The browsers operators use; no legacy bundle.
    target: 'es2022',
  },
  logLevel: 'warn',
});
