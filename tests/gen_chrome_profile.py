#!/usr/bin/env python3
"""Writes a synthetic Chromium user-data folder whose cookie database holds many cookies,
encrypted exactly as Chromium 156 on Linux does with `--password-store=basic`: `v10`,
AES-128-CBC under PBKDF2-HMAC-SHA1("peanuts", "saltysalt", 1), meta version 24 (the plaintext is
SHA-256(host_key) followed by the value). For snowbridge's tests and for scripts/bench.sh, which
compares import speed against browser_cookie3 and rookiepy.

    python3 -m venv .venv && .venv/bin/pip install cryptography
    .venv/bin/python tests/gen_chrome_profile.py --out /tmp/profile [--count 20000]

Writes:
  OUT/Local State                 names the profile "Person 1"
  OUT/Default/Cookies             the database (count rows)
  OUT/snowbridge-expected.json    the URL to import for and the cookies a request to it carries,
                                  attribute for attribute, so an importer can be checked

Most cookies belong to other hosts (as in a real profile); `--matching` of them belong to the
instance's host or its parent domain, some on deeper paths that the instance URL does not carry.
"""

import argparse
import hashlib
import json
import random
import sqlite3
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

SCHEMA_156 = """
CREATE TABLE meta(key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value LONGVARCHAR);
CREATE TABLE cookies(creation_utc INTEGER NOT NULL,host_key TEXT NOT NULL,top_frame_site_key TEXT NOT NULL,name TEXT NOT NULL,value TEXT NOT NULL,encrypted_value BLOB NOT NULL,path TEXT NOT NULL,expires_utc INTEGER NOT NULL,is_secure INTEGER NOT NULL,is_httponly INTEGER NOT NULL,last_access_utc INTEGER NOT NULL,has_expires INTEGER NOT NULL,is_persistent INTEGER NOT NULL,priority INTEGER NOT NULL,samesite INTEGER NOT NULL,source_scheme INTEGER NOT NULL,source_port INTEGER NOT NULL,last_update_utc INTEGER NOT NULL,source_type INTEGER NOT NULL,has_cross_site_ancestor INTEGER NOT NULL);
CREATE UNIQUE INDEX cookies_unique_index ON cookies(host_key, top_frame_site_key, has_cross_site_ancestor, name, path, source_scheme, source_port);
INSERT INTO meta VALUES('mmap_status','-1'),('version','24'),('last_compatible_version','24');
"""
CHROME_EPOCH_OFFSET_S = 11_644_473_600
SAMESITE = {-1: None, 0: "None", 1: "Lax", 2: "Strict"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="user-data folder to create")
    parser.add_argument("--count", type=int, default=20_000, help="cookies in all")
    parser.add_argument("--matching", type=int, default=40, help="cookies for the instance")
    parser.add_argument("--host", default="acme.service-now.com", help="the instance's host")
    parser.add_argument("--seed", type=int, default=1, help="seed for names and values")
    args = parser.parse_args()
    if not 0 < args.matching <= args.count:
        parser.error("--matching must be between 1 and --count")

    rng = random.Random(args.seed)
    kdf = PBKDF2HMAC(algorithm=hashes.SHA1(), length=16, salt=b"saltysalt", iterations=1)
    key = kdf.derive(b"peanuts")
    iv = b" " * 16

    def encrypt(host_key, value):
        plain = hashlib.sha256(host_key.encode()).digest() + value.encode()
        padder = padding.PKCS7(128).padder()
        padded = padder.update(plain) + padder.finalize()
        enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        return b"v10" + enc.update(padded) + enc.finalize()

    now_s = int(time.time())
    parent = args.host.split(".", 1)[1] if "." in args.host else args.host
    url = f"https://{args.host}/"
    rows = []
    expected = []
    for i in range(args.count):
        created = (now_s + CHROME_EPOCH_OFFSET_S) * 1_000_000 - (args.count - i)
        if i < args.matching:
            # The instance's own cookies: host-only and domain ones, one in eight on a path
            # the instance URL does not carry.
            domain_cookie = i % 3 == 0
            host_key = f".{parent}" if domain_cookie else args.host
            path = "/api" if i % 8 == 7 else "/"
            name = f"instance_cookie_{i}"
        else:
            host_key = f"{'.' if i % 2 else ''}site{rng.randrange(2000)}.example.org"
            path = "/"
            name = f"cookie_{i}"
        value = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
        session = rng.random() < 0.3
        expires_s = None if session else now_s + rng.randrange(3600, 300 * 86400)
        secure = rng.random() < 0.8
        httponly = rng.random() < 0.5
        samesite = rng.choice([-1, 0, 1, 2])
        if samesite == 0:
            secure = True  # Chrome keeps SameSite=None only with Secure.
        rows.append((
            created, host_key, "", name, "", encrypt(host_key, value), path,
            0 if session else (expires_s + CHROME_EPOCH_OFFSET_S) * 1_000_000,
            int(secure), int(httponly), created, int(not session), int(not session), 1,
            samesite, 2 if secure else 1, 443, created, 0, 0,
        ))
        if i < args.matching and path == "/":
            expected.append({
                "name": name,
                "value": value,
                "domain": host_key.lstrip("."),
                "host_only": not host_key.startswith("."),
                "path": path,
                "secure": secure,
                "http_only": httponly,
                "same_site": SAMESITE[samesite],
                "expires_unix": expires_s,
            })

    profile = args.out / "Default"
    profile.mkdir(parents=True, exist_ok=True)
    db = profile / "Cookies"
    if db.exists():
        db.unlink()
    conn = sqlite3.connect(db)
    conn.executescript(SCHEMA_156)
    conn.executemany(
        "INSERT INTO cookies VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
    )
    conn.commit()
    conn.close()
    (args.out / "Local State").write_text(json.dumps({
        "profile": {"last_used": "Default", "info_cache": {"Default": {"name": "Person 1"}}}
    }))
    (args.out / "snowbridge-expected.json").write_text(json.dumps({
        "generated_by": "tests/gen_chrome_profile.py",
        "database": str(db),
        "url": url,
        "count": args.count,
        "expected": expected,
    }, indent=1) + "\n")
    print(f"wrote {args.count} cookies ({len(expected)} for {url}) to {db}", file=sys.stderr)


if __name__ == "__main__":
    main()
