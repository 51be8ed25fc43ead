// Vite build of the e2e page that consumes session-keeper by its npm name. The suite runs
// build() with this file (e2e/supabase.test.js); the reference backend serves the output
// with `--app e2e/vite-app/dist` at /app/.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/app/',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Readable output: a failing e2e test's stack trace should name real functions.
    minify: false,
    sourcemap: true,
    rolldownOptions: {
      output: {
        // No content hashes: `node --test e2e/` scans this folder, and a hash ending in
        // "-test" or "_test" would make it run a bundle as a test file.
        entryFileNames: 'assets/[name].js',
        chunkFileNames: 'assets/[name].js',
        assetFileNames: 'assets/[name][extname]',
      },
    },
  },
});
