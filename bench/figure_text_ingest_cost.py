"""python -m bench.figure_text_ingest_cost INDEX

Marginal ingest cost of issue 17's per-figure rows and passages, for the 9 USPTO ZIP patents of the sample:
figure_passages() + encoding them (MiniLM, batch as the pipeline does) + the figure_lexical rows; CPU and wall."""

import json
import sqlite3
import sys
import time

from core.figure_text import figure_passages
from core.settings import load_settings
from patfig.wiring import build_services
from store import figure_lexical

s = build_services(load_settings(index_dir=sys.argv[1] if len(sys.argv) > 1 else "data/index"))
st = s.store
ids = [
    "US12448135",
    "US12448249",
    "US12448385",
    "US12448402",
    "US12448527",
    "US12448730",
    "US12448749",
    "US12448895",
    "US20250250937",
]
pats = [(st.patent(i), st.sheets(i)) for i in ids]
pats = [(p, sh) for p, sh in pats if p is not None]
enc = s.text
enc.embed_texts(["warm up the model"])
sheets_n = sum(len(sh) for _, sh in pats)
# pages (sheets) vs figures: count distinct sheet numbers
pages = sum(len({x.sheet_no for x in sh}) for _, sh in pats)
db = sqlite3.connect(":memory:")
db.executescript(
    "CREATE TABLE sheets(figure_id TEXT PRIMARY KEY, patent_id TEXT, sheet_no INT, doc TEXT);"
    "CREATE TABLE components(patent_id, figure_id, numeral, label, doc);" + figure_lexical.SCHEMA
)
res = {}
for _rnd in range(3):
    w, c = time.perf_counter(), time.process_time()
    n_pass = 0
    for p, sh in pats:
        fp = figure_passages(p, sh)
        n_pass += len(fp)
        if fp:
            enc.embed_texts([x.text for x in fp])
    res.setdefault("passages_encode", []).append((time.perf_counter() - w, time.process_time() - c))
    w, c = time.perf_counter(), time.process_time()
    with db:
        db.execute("DELETE FROM figure_lexical")
        db.execute("DELETE FROM sheets")
        for p, sh in pats:
            db.executemany(
                "INSERT INTO sheets VALUES(?,?,?,?)", [(x.figure_id, p.patent_id, x.sheet_no, "") for x in sh]
            )
            figure_lexical.write(db, p, sh)
    res.setdefault("figure_lexical_write", []).append((time.perf_counter() - w, time.process_time() - c))
out = {
    "patents": len(pats),
    "figures": sheets_n,
    "drawing_pages": pages,
    "passages": n_pass,
    **{
        k: {
            "wall_s_min": round(min(x[0] for x in v), 3),
            "cpu_s_min": round(min(x[1] for x in v), 3),
            "cpu_s_all": [round(x[1], 3) for x in v],
        }
        for k, v in res.items()
    },
}
print(json.dumps(out, indent=1))
