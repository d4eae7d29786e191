"""PyTorch's side of bench/distributed: DistributedDataParallel on the CPU (gloo), each process
one rank of a job started as torchrun starts one (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT in
its environment; the rendezvous over TCP on this machine), or a process alone (plain training,
no DDP).

  fit mlp|cnn BATCH STEPS   rank 0 prints the job's samples/s: STEPS Adam steps of BATCH samples
                            per process, timed after a warm-up of 10
  allreduce FLOATS...       rank 0 prints "floats seconds": all_reduce (sum, in place) of a float32
                            tensor, the median of 7 timed loops as bench/allreduce.c times MPI's

One thread per process (TORCH_THREADS to change), as torchrun gives each rank here.
"""
import os
import sys
import time

import torch
import torch.distributed as dist

from torch_step import cnn, mlp

rank = int(os.environ.get("RANK", "0"))
world = int(os.environ.get("WORLD_SIZE", "1"))
torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
if world > 1:
    dist.init_process_group("gloo", rank=rank, world_size=world)


def sync():
    if world > 1:
        dist.barrier()


def fit(kind, batch, steps):
    torch.manual_seed(0)
    model = mlp() if kind == "mlp" else cnn()
    if world > 1:
        # DDP at its best here: its 25 MB buckets, gradients kept in them (no copy in or out)
        model = torch.nn.parallel.DistributedDataParallel(model, gradient_as_bucket_view=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    warm = 10
    shape = (784,) if kind == "mlp" else (1, 28, 28)
    g = torch.Generator().manual_seed(1 + rank)
    x = torch.rand((warm + steps) * batch, *shape, generator=g)
    y = torch.randint(0, 10, ((warm + steps) * batch,), generator=g)

    def step(i):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[i * batch:(i + 1) * batch]), y[i * batch:(i + 1) * batch])
        loss.backward()
        opt.step()

    for i in range(warm):
        step(i)
    sync()
    t = time.perf_counter()
    for i in range(warm, warm + steps):
        step(i)
    sync()
    seconds = time.perf_counter() - t
    if rank == 0:
        print(f"{steps * batch * world / seconds:.1f}", flush=True)


def allreduce(sizes):
    for n in sizes:
        t = torch.ones(n)
        calls = 10 if n >= 1 << 22 else 50 if n >= 1 << 16 else 500

        def median():
            times = []
            for _ in range(7):
                sync()
                start = time.perf_counter()
                for _ in range(calls):
                    dist.all_reduce(t)
                times.append((time.perf_counter() - start) / calls)
            return sorted(times)[3]

        median()
        m = median()
        if rank == 0:
            print(f"{n} {m:.9f}", flush=True)


if sys.argv[1] == "fit":
    fit(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
else:
    allreduce([int(a) for a in sys.argv[2:]])
if world > 1:
    dist.destroy_process_group()
