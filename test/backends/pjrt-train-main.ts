// `tessera train` in a process where the fake PJRT plugin runs programs in the interpreter
// (the CLI itself is unchanged: it finds the plugin through TESSERA_PJRT_PLUGIN).
import { installFakePjrt } from '../helpers/fake-pjrt.js';

installFakePjrt(process.env['TESSERA_PJRT_PLUGIN']);
const { main } = await import('../../src/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
