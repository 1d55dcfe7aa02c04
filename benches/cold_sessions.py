"""Copies the one signed-in session of the benchmark's database N times under new ids and
writes their cookies, one per line, so that a restarted gateway meets N sessions that are
only in the store (a cache miss each).

The ids are random 256-bit values; the store keeps only their SHA-256, as the gateway does.

Usage: python3 benches/cold_sessions.py DATABASE N COOKIES_FILE
"""

import base64
import hashlib
import os
import sqlite3
import sys



def main():
    database, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    db = sqlite3.connect(database, timeout=30)
    # Every column but the id, whichever the gateway's migrations have made so far.
    columns = [c[1] for c in db.execute("PRAGMA table_info(sessions)") if c[1] != "id_hash"]
    template = db.execute(f"SELECT {', '.join(columns)} FROM sessions LIMIT 1").fetchone()
    if template is None:
        sys.exit("no session to copy: sign in first")
    rows, cookies = [], []
    for _ in range(count):
        raw = os.urandom(32)
        cookies.append(base64.urlsafe_b64encode(raw).rstrip(b"=").decode())
        rows.append((hashlib.sha256(raw).hexdigest(), *template))
    with db:
        db.executemany(
            f"INSERT INTO sessions (id_hash, {', '.join(columns)}) "
            f"VALUES ({', '.join('?' * (len(columns) + 1))})",
            rows,
        )
    with open(out, "w") as f:
        f.write("\n".join(cookies) + "\n")
    print(f"{count} sessions copied")


main()
