// The tessera command line: dispatches to subcommands.
import { TesseraError } from '../core/errors.js';
import { BENCH_HELP, bench } from './bench.js';
import { DEVICES_HELP, devices } from './devices.js';
import { SERVE_HELP, serve } from './serve.js';
import { TRAIN_HELP, train } from './train.js';
import { VERIFY_HELP, verify } from './verify.js';

const HELPS: Record<string, string> = { train: TRAIN_HELP, devices: DEVICES_HELP, verify: VERIFY_HELP, bench: BENCH_HELP, serve: SERVE_HELP };

const HELP = `tessera — train neural networks in TypeScript on CPU and GPU

Usage: tessera <command> [options]

Commands:
  train     train a Fashion-MNIST classifier (MLP or CNN) and report accuracy and speed
  devices   list the devices tessera can use, and why others are unavailable
  verify    check each device's results against a float64 reference, and that it did the work
  bench     training samples/s and matmul throughput per device, with the speed-up over the CPU
  serve     the browser page: train in a tab on WebGPU or the CPU, verify, GPU vs CPU
  help      show this help, or \`tessera help <command>\`

${TRAIN_HELP}`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'train': return await train(rest);
      case 'devices': return await devices(rest);
      case 'verify': return await verify(rest);
      case 'bench': return await bench(rest);
      case 'serve': return await serve(rest);
      case undefined: case 'help': case '--help': case '-h':
        console.log(HELPS[rest[0] ?? ''] ?? HELP);
        return 0;
      default:
        console.error(`tessera: unknown command '${command}'\n\n${HELP}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof TesseraError || (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`tessera: ${(e as Error).message}`);
      return 1;
    }
    throw e;
  }
}
