// The two MPI ABIs in use, one entry each: Open MPI's, whose handles (MPI_COMM_WORLD, MPI_FLOAT,
// MPI_SUM) are addresses of objects the library exports, and MPICH's, shared by the MPICH family
// (Intel MPI, MVAPICH, Cray MPICH), whose handles are fixed integers from its mpi.h.
import type { Koffi } from '../core/ffi.js';
import type { MpiDType, MpiOp } from './mpi.js';

type Library = ReturnType<Koffi['load']>;

export interface MpiHandles { world: unknown; types: Record<MpiDType, unknown>; ops: Record<MpiOp, unknown> }

export interface MpiAbi {
  readonly name: 'Open MPI' | 'MPICH';
  /** the package that brings it, for errors */
  readonly install: string;
  /** where its library usually is (bare names go to the dynamic loader) */
  libraries(arch: string): string[];
  /** C type of MPI_Comm, MPI_Datatype and MPI_Op */
  readonly handle: 'void *' | 'int';
  /** MPI_IN_PLACE and MPI_STATUS_IGNORE, as addresses */
  readonly inPlace: number;
  readonly statusIgnore: number;
  /** whether a loaded library speaks this ABI (`version`: its MPI_Get_library_version) */
  speaks(koffi: Koffi, lib: Library, version: string): boolean;
  handles(koffi: Koffi, lib: Library): MpiHandles;
}

const exported = (koffi: Koffi, lib: Library, name: string): unknown => lib.symbol(name, koffi.opaque());

export const MPI_ABIS: readonly MpiAbi[] = [
  {
    name: 'Open MPI',
    install: 'Open MPI (Debian/Ubuntu: `apt install openmpi-bin libopenmpi3`)',
    libraries: (arch) => ['libmpi.so.40', 'libmpi.so', `/usr/lib/${arch}/libmpi.so.40`, `/usr/lib/${arch}/openmpi/lib/libmpi.so.40`, '/opt/openmpi/lib/libmpi.so.40', '/usr/local/lib/libmpi.so.40'],
    handle: 'void *',
    inPlace: 1,
    statusIgnore: 0,
    speaks(koffi, lib) {
      try {
        exported(koffi, lib, 'ompi_mpi_comm_world');
        return true;
      } catch {
        return false;
      }
    },
    handles: (koffi, lib) => ({
      world: exported(koffi, lib, 'ompi_mpi_comm_world'),
      types: { float: exported(koffi, lib, 'ompi_mpi_float'), int: exported(koffi, lib, 'ompi_mpi_int'), byte: exported(koffi, lib, 'ompi_mpi_unsigned_char') },
      ops: { sum: exported(koffi, lib, 'ompi_mpi_op_sum'), max: exported(koffi, lib, 'ompi_mpi_op_max'), min: exported(koffi, lib, 'ompi_mpi_op_min') },
    }),
  },
  {
    name: 'MPICH',
    install: 'MPICH (Debian/Ubuntu: `apt install mpich`)',
    libraries: (arch) => ['libmpich.so.12', `/usr/lib/${arch}/libmpich.so.12`, 'libmpi.so.12', '/opt/mpich/lib/libmpich.so.12', '/usr/local/lib/libmpich.so.12'],
    handle: 'int',
    inPlace: -1,
    statusIgnore: 1,
    speaks: (_koffi, _lib, version) => /MPICH|Intel\(R\) MPI|MVAPICH/.test(version),
    handles: () => ({
      world: 0x44000000,
      types: { float: 0x4c00040a, int: 0x4c000405, byte: 0x4c000102 },
      ops: { max: 0x58000001, min: 0x58000002, sum: 0x58000003 },
    }),
  },
];
