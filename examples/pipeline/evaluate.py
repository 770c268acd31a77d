"""Step 3: score the model on the held-out rows."""

import csv
import json

with open("work/model.json") as handle:
    model = json.load(handle)
with open("work/test.csv", newline="") as handle:
    rows = [(float(r["x1"]), float(r["x2"]), float(r["y"])) for r in csv.DictReader(handle)]

errors = [model["w1"] * x1 + model["w2"] * x2 + model["b"] - y for x1, x2, y in rows]
mse = sum(e * e for e in errors) / len(errors)
with open("metrics.json", "w") as handle:
    json.dump({"mse": round(mse, 6), "rows": len(rows)}, handle, indent=2)
print(f"evaluate: mse={mse:.4f} on {len(rows)} rows")
