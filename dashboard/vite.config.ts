import { defineConfig } from 'vite'

// Built into dashboard/dist, which the hub serves at `/` (plugins/dashboard.ts). JSX compiles
// for Preact by tsconfig.json's `jsxImportSource`: no plugin needed.
export default defineConfig({
  build: { outDir: 'dist', emptyOutDir: true, modulePreload: { polyfill: false } }
})
