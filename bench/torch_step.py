"""PyTorch side of bench/train-step: the same workloads, in PyTorch's fastest CPU setup here.

Run with OPENBLAS_NUM_THREADS=1 (set by the caller); uses torch.set_num_threads(2).
Prints one JSON line per workload: {"workload", "batch", "ms_per_step", "samples_per_s"}.
"""
import json
import sys
import time

import torch

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
torch.manual_seed(0)


def mlp():
    return torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(3136, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def measure(name, model, x, y, steps, repeats):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(max(5, steps // 5)):
        step()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        times.append((time.perf_counter() - t) / steps * 1000)
    ms = sorted(times)[len(times) // 2]
    print(json.dumps({"workload": name, "batch": x.shape[0], "ms_per_step": ms, "samples_per_s": x.shape[0] / ms * 1000}), flush=True)


spec = json.loads(sys.argv[2])
for w in spec:
    b = w["batch"]
    if w["workload"] == "mlp":
        measure("mlp", mlp(), torch.rand(b, 784), torch.randint(0, 10, (b,)), w["steps"], w["repeats"])
    else:
        measure("cnn", cnn(), torch.rand(b, 1, 28, 28), torch.randint(0, 10, (b,)), w["steps"], w["repeats"])
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
