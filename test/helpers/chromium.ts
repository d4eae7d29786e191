// Headless Chromium for the browser tests, driven by playwright-core (no browser download: it
// runs the system's chromium). WebGPU there runs on Chromium's SwiftShader, so no GPU is needed.
import { spawnSync } from 'node:child_process';
import { chromium, type Browser } from 'playwright-core';

const executable = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']
  .find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);

/** false, or why the browser tests cannot run here. */
export const noChromium: false | string = executable ? false : 'no Chromium on this machine (.ci/run installs Debian\'s chromium)';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: executable!,
    args: [
      '--no-sandbox', '--no-first-run',
      // gc() in pages and workers, so a test can count the tensors a run leaves alive
      '--js-flags=--expose-gc',
      // no connections to the outside: this machine's network is closed
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic',
      // WebGPU on Chromium's built-in software Vulkan
      '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader',
    ],
  });
}
