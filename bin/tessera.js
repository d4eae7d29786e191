#!/usr/bin/env node
// The tessera command; the implementation is compiled to dist/ by `npm run build` (run by npm ci).
import('../dist/src/cli/main.js')
  .then((m) => m.main(process.argv.slice(2)))
  .then((code) => { process.exitCode = code; })
  .catch((e) => {
    if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/src/cli')) {
      console.error('tessera: not built yet; run `npm run build` (npm ci does it too)');
    } else {
      console.error(`tessera: ${e && e.message ? e.message : e}`);
    }
    process.exitCode = 1;
  });
