// The tessera command line: dispatches to subcommands.
import { TesseraError } from '../core/errors.js';
import { TRAIN_HELP, train } from './train.js';

const HELP = `tessera — train neural networks in TypeScript on CPU and GPU

Usage: tessera <command> [options]

Commands:
  train     train a Fashion-MNIST classifier (MLP or CNN) and report accuracy and speed
  help      show this help, or \`tessera help <command>\`

${TRAIN_HELP}`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'train': return await train(rest);
      case undefined: case 'help': case '--help': case '-h':
        console.log(rest[0] === 'train' ? TRAIN_HELP : HELP);
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
