"""PyTorch side of bench/train-step: the same workloads, in PyTorch's fastest CPU setup here.

Run with OPENBLAS_NUM_THREADS=1 (set by the caller); uses torch.set_num_threads(2).
Prints one JSON line per workload: {"workload", "batch", "ms_per_step", "samples_per_s"}.
"""
import json
import sys
import time

import torch


def mlp():
    return torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def cnn():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(3136, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


class LSTM(torch.nn.Module):
    """LSTM(128) over 28 rows of 28 pixels, the last state to 10 classes."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(28, 128, batch_first=True)
        self.out = torch.nn.Linear(128, 10)

    def forward(self, x):
        return self.out(self.lstm(x)[0][:, -1])


class Transformer(torch.nn.Module):
    """tessera's transformer: 16 patches of 7x7, 64 features, learned positions, 2 pre-norm blocks
    (4 heads, GELU MLP of 128), a final norm, the mean over patches, 10 classes."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Linear(49, 64)
        self.position = torch.nn.Parameter(torch.randn(16, 64) * 0.1)
        block = lambda: torch.nn.TransformerEncoderLayer(64, 4, 128, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.blocks = torch.nn.Sequential(block(), block())
        self.norm = torch.nn.LayerNorm(64)
        self.out = torch.nn.Linear(64, 10)

    def forward(self, x):
        patches = x.reshape(-1, 4, 7, 4, 7).permute(0, 1, 3, 2, 4).reshape(-1, 16, 49)
        h = self.blocks(self.embed(patches) + self.position)
        return self.out(self.norm(h).mean(1))


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


if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    torch.manual_seed(0)
    spec = json.loads(sys.argv[2])
    for w in spec:
        b = w["batch"]
        kind, y = w["workload"], torch.randint(0, 10, (b,))
        if kind == "mlp":
            measure(kind, mlp(), torch.rand(b, 784), y, w["steps"], w["repeats"])
        elif kind == "cnn":
            measure(kind, cnn(), torch.rand(b, 1, 28, 28), y, w["steps"], w["repeats"])
        else:
            measure(kind, LSTM() if kind == "lstm" else Transformer(), torch.rand(b, 28, 28), y, w["steps"], w["repeats"])
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
