"""Step 2: fit a linear model by gradient descent and save it."""

import csv
import json

with open("work/train.csv", newline="") as handle:
    rows = [(float(r["x1"]), float(r["x2"]), float(r["y"])) for r in csv.DictReader(handle)]

w1 = w2 = b = 0.0
rate = 0.05
for _epoch in range(500):
    g1 = g2 = gb = 0.0
    for x1, x2, y in rows:
        err = w1 * x1 + w2 * x2 + b - y
        g1 += err * x1
        g2 += err * x2
        gb += err
    n = len(rows)
    w1 -= rate * g1 / n
    w2 -= rate * g2 / n
    b -= rate * gb / n

with open("work/model.json", "w") as handle:
    json.dump({"w1": round(w1, 6), "w2": round(w2, 6), "b": round(b, 6)}, handle, indent=2)
print(f"train: w1={w1:.3f} w2={w2:.3f} b={b:.3f}")
