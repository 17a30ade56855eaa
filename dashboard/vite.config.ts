// The dashboard's build: one small bundle for /dashboard/, written where CMake says (--outDir,
// see build.cmake); `npm run dev` serves it with hot reload, passing API calls to a tollgate on
// 127.0.0.1:8080.
import { defineConfig } from 'vite';

const tollgate = 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/dashboard/',
  build: {
    target: 'es2022',
    assetsInlineLimit: 0, // no data: URLs: every asset is a file under assets/, cached as immutable
    modulePreload: { polyfill: false }, // current browsers need none, and it would be one more script
  },
  server: {
    proxy: { '/v2': tollgate, '/readyz': tollgate, '/metrics': tollgate, '/billing': tollgate },
  },
});
