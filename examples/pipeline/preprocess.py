"""Step 1: clean the raw data and split it into train and test sets."""

import csv
import os

os.makedirs("work", exist_ok=True)
with open("data/raw.csv", newline="") as handle:
    rows = [r for r in csv.DictReader(handle) if all(v.strip() for v in r.values())]

# Standardise features with statistics from the training part only.
split = int(len(rows) * 0.8)
train, test = rows[:split], rows[split:]
stats = {}
for col in ("x1", "x2"):
    values = [float(r[col]) for r in train]
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    stats[col] = (mean, std)

for name, part in (("work/train.csv", train), ("work/test.csv", test)):
    with open(name, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x1", "x2", "y"])
        for r in part:
            writer.writerow(
                [f"{(float(r[c]) - stats[c][0]) / stats[c][1]:.6f}" for c in ("x1", "x2")]
                + [r["y"]]
            )
print(f"preprocess: {len(train)} train rows, {len(test)} test rows")
