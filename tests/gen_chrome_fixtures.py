#!/usr/bin/env python3
"""Writes the Chrome cookie-database fixtures in tests/fixtures/chrome/ with an implementation
independent of snowbridge's: Python's sqlite3 and the `cryptography` package.

    python3 -m venv .venv && .venv/bin/pip install cryptography
    .venv/bin/python tests/gen_chrome_fixtures.py

Each fixture is a folder with a `Cookies` database and `expected.json`: the key material, the URL
to import for, the cookies snowbridge must return (attribute for attribute) and the ones it must
skip with their reason. Random bytes (keys, nonces, values) come from os.urandom, so rerunning
the script changes the files; the tests read whatever expected.json says.

Fixtures:
  windows/     AES-256-GCM (`v10`, `v11`), meta 24 with the SHA-256(host_key) prefix, plus a
               `v20` (app-bound) value, a value under another key and a host-hash mismatch.
  macos/       AES-128-CBC with PBKDF2-HMAC-SHA1(keychain password, "saltysalt", 1003), meta 24,
               with the same traps.
  linux-old/   an old schema (`secure`, `httponly`, `persistent`, no `samesite`, no
               `top_frame_site_key`), meta 10 (no host hash), `v10` under "peanuts", and one
               plaintext `value`.
"""

import base64
import hashlib
import json
import os
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

OUT = Path(__file__).resolve().parent / "fixtures" / "chrome"
HOST = "acme.service-now.com"
URL = f"https://{HOST}/now/nav/ui/classic"
CHROME_EPOCH_OFFSET_S = 11_644_473_600
FAR = datetime(2099, 1, 1, tzinfo=timezone.utc)
PAST = datetime(2001, 1, 1, tzinfo=timezone.utc)

SCHEMA_156 = """
CREATE TABLE meta(key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value LONGVARCHAR);
CREATE TABLE cookies(creation_utc INTEGER NOT NULL,host_key TEXT NOT NULL,top_frame_site_key TEXT NOT NULL,name TEXT NOT NULL,value TEXT NOT NULL,encrypted_value BLOB NOT NULL,path TEXT NOT NULL,expires_utc INTEGER NOT NULL,is_secure INTEGER NOT NULL,is_httponly INTEGER NOT NULL,last_access_utc INTEGER NOT NULL,has_expires INTEGER NOT NULL,is_persistent INTEGER NOT NULL,priority INTEGER NOT NULL,samesite INTEGER NOT NULL,source_scheme INTEGER NOT NULL,source_port INTEGER NOT NULL,last_update_utc INTEGER NOT NULL,source_type INTEGER NOT NULL,has_cross_site_ancestor INTEGER NOT NULL);
CREATE UNIQUE INDEX cookies_unique_index ON cookies(host_key, top_frame_site_key, has_cross_site_ancestor, name, path, source_scheme, source_port);
"""

SCHEMA_OLD = """
CREATE TABLE meta(key LONGVARCHAR NOT NULL UNIQUE PRIMARY KEY, value LONGVARCHAR);
CREATE TABLE cookies (creation_utc INTEGER NOT NULL UNIQUE PRIMARY KEY,host_key TEXT NOT NULL,name TEXT NOT NULL,value TEXT NOT NULL,path TEXT NOT NULL,expires_utc INTEGER NOT NULL,secure INTEGER NOT NULL,httponly INTEGER NOT NULL,last_access_utc INTEGER NOT NULL, has_expires INTEGER NOT NULL DEFAULT 1, persistent INTEGER NOT NULL DEFAULT 1,priority INTEGER NOT NULL DEFAULT 1,encrypted_value BLOB DEFAULT '',firstpartyonly INTEGER NOT NULL DEFAULT 0);
"""


def chrome_time(when):
    if when is None:
        return 0
    return (int(when.timestamp()) + CHROME_EPOCH_OFFSET_S) * 1_000_000


def host_hash(host_key):
    return hashlib.sha256(host_key.encode()).digest()


def cbc_key(password, iterations):
    kdf = PBKDF2HMAC(algorithm=hashes.SHA1(), length=16, salt=b"saltysalt", iterations=iterations)
    return kdf.derive(password)


def cbc_encrypt(key, plain):
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(b" " * 16)).encryptor()
    return enc.update(padded) + enc.finalize()


def gcm_encrypt(key, plain):
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plain, None)


def random_value(name):
    return f"{name}-{os.urandom(12).hex()}"


class Fixture:
    def __init__(self, folder, schema, meta_version):
        self.dir = OUT / folder
        self.dir.mkdir(parents=True, exist_ok=True)
        db = self.dir / "Cookies"
        if db.exists():
            db.unlink()
        self.conn = sqlite3.connect(db)
        self.conn.executescript(schema)
        self.conn.executemany(
            "INSERT INTO meta VALUES(?, ?)",
            [("mmap_status", "-1"), ("version", str(meta_version)),
             ("last_compatible_version", str(meta_version))],
        )
        self.old = schema is SCHEMA_OLD
        self.created = 13_300_000_000_000_000
        self.expected = []
        self.skipped = []
        self.expired = []
        self.partitioned = []

    def add(self, name, encrypted, host_key=HOST, path="/", expires=None, secure=True,
            httponly=True, samesite=-1, partition="", plain_value=""):
        self.created += 1
        if self.old:
            self.conn.execute(
                "INSERT INTO cookies VALUES(?,?,?,?,?,?,?,?,?,?,?,1,?,0)",
                (self.created, host_key, name, plain_value, path, chrome_time(expires),
                 int(secure), int(httponly), self.created, int(expires is not None),
                 int(expires is not None), encrypted),
            )
        else:
            self.conn.execute(
                "INSERT INTO cookies VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,1,?,2,443,?,0,0)",
                (self.created, host_key, partition, name, plain_value, encrypted, path,
                 chrome_time(expires), int(secure), int(httponly), self.created,
                 int(expires is not None), int(expires is not None), samesite, self.created),
            )

    def expect(self, name, value, host_key=HOST, path="/", expires=None, secure=True,
               httponly=True, samesite=-1):
        self.expected.append({
            "name": name,
            "value": value,
            "domain": host_key.lstrip("."),
            "host_only": not host_key.startswith("."),
            "path": path,
            "secure": secure,
            "http_only": httponly,
            "same_site": {-1: None, 0: "None", 1: "Lax", 2: "Strict"}[samesite],
            "expires_unix": None if expires is None else int(expires.timestamp()),
        })

    def skip(self, name, reason):
        self.skipped.append({"name": name, "reason": reason})

    def finish(self, keys):
        self.conn.commit()
        self.conn.close()
        doc = {
            "generated_by": "tests/gen_chrome_fixtures.py",
            "url": URL,
            "keys": keys,
            "expected": self.expected,
            "skipped": self.skipped,
            "expired": self.expired,
            "partitioned": self.partitioned,
        }
        (self.dir / "expected.json").write_text(json.dumps(doc, indent=2) + "\n")


def common_traps(f, encrypt, wrong_encrypt, hashed):
    """The cases every fixture carries: app-bound, wrong key, host-hash mismatch, expired,
    partitioned, and cookies for other hosts that must not match."""
    f.add("glide_user_route", b"v20" + os.urandom(60))
    f.skip("glide_user_route", "app-bound")
    f.add("under_another_key", wrong_encrypt(HOST, random_value("x")))
    f.skip("under_another_key", "wrong-key")
    if hashed:
        # Right key, but the plaintext carries the hash of another host.
        f.add("host_hash_mismatch", encrypt("evil.example", random_value("x"), force_hash_of="evil.example"))
        f.skip("host_hash_mismatch", "wrong-key")
    f.add("old_session", encrypt(HOST, random_value("old")), expires=PAST)
    f.expired.append("old_session")
    if not f.old:
        f.add("embedded", encrypt(HOST, random_value("e")), partition="https://other.example")
        f.partitioned.append("embedded")
    f.add("lookalike", encrypt("evilservice-now.com", random_value("l")),
          host_key="evilservice-now.com")
    f.add("sibling", encrypt("other.service-now.com", random_value("s")),
          host_key="other.service-now.com")
    f.add("deeper_path", encrypt(HOST, random_value("d")), path="/api")


def windows():
    key = os.urandom(32)
    other = os.urandom(32)
    f = Fixture("windows", SCHEMA_156, 24)

    def encrypt(host_key, value, prefix=b"v10", force_hash_of=None, with_key=key):
        plain = host_hash(force_hash_of or host_key) + value.encode()
        return prefix + gcm_encrypt(with_key, plain)

    def wrong(host_key, value):
        return encrypt(host_key, value, with_key=other)

    v = random_value("glide_session_store")
    f.add("glide_session_store", encrypt(HOST, v), samesite=0)
    f.expect("glide_session_store", v, samesite=0)
    v = random_value("JSESSIONID")
    f.add("JSESSIONID", encrypt(HOST, v, prefix=b"v11"), expires=FAR, samesite=1)
    f.expect("JSESSIONID", v, expires=FAR, samesite=1)
    v = random_value("BIGipServerpool")
    f.add("BIGipServerpool", encrypt(".service-now.com", v), host_key=".service-now.com",
          httponly=False, secure=False, samesite=2)
    f.expect("BIGipServerpool", v, host_key=".service-now.com", httponly=False, secure=False,
             samesite=2)
    common_traps(f, encrypt, wrong, hashed=True)
    f.finish({"windows_aes_key_hex": key.hex()})


def macos():
    password = base64.b64encode(os.urandom(12))
    key = cbc_key(password, 1003)
    other = cbc_key(b"not the keychain password", 1003)
    f = Fixture("macos", SCHEMA_156, 24)

    def encrypt(host_key, value, force_hash_of=None, with_key=key):
        plain = host_hash(force_hash_of or host_key) + value.encode()
        return b"v10" + cbc_encrypt(with_key, plain)

    def wrong(host_key, value):
        return encrypt(host_key, value, with_key=other)

    v = random_value("glide_session_store")
    f.add("glide_session_store", encrypt(HOST, v), samesite=0)
    f.expect("glide_session_store", v, samesite=0)
    v = random_value("JSESSIONID")
    f.add("JSESSIONID", encrypt(HOST, v), expires=FAR, samesite=1)
    f.expect("JSESSIONID", v, expires=FAR, samesite=1)
    v = random_value("BIGipServerpool")
    f.add("BIGipServerpool", encrypt(".service-now.com", v), host_key=".service-now.com",
          httponly=False, secure=False, samesite=2)
    f.expect("BIGipServerpool", v, host_key=".service-now.com", httponly=False, secure=False,
             samesite=2)
    common_traps(f, encrypt, wrong, hashed=True)
    f.finish({"macos_keychain_password": password.decode()})


def linux_old():
    key = cbc_key(b"peanuts", 1)
    other = cbc_key(b"not peanuts", 1)
    f = Fixture("linux-old", SCHEMA_OLD, 10)

    def encrypt(host_key, value, force_hash_of=None, with_key=key):
        return b"v10" + cbc_encrypt(with_key, value.encode())

    def wrong(host_key, value):
        # Without the host hash, a wrong key can still unpad by chance: keep only a ciphertext
        # whose last byte is no valid pad under either key Chrome would try ("peanuts", "").
        def bad_pad(k, ct):
            dec = Cipher(algorithms.AES(k), modes.CBC(b" " * 16)).decryptor()
            last = (dec.update(ct[3:]) + dec.finalize())[-1]
            return last == 0 or last > 16

        while True:
            ct = encrypt(host_key, value, with_key=other)
            if bad_pad(key, ct) and bad_pad(cbc_key(b"", 1), ct):
                return ct

    v = random_value("glide_session_store")
    f.add("glide_session_store", encrypt(HOST, v))
    f.expect("glide_session_store", v)
    v = random_value("JSESSIONID")
    f.add("JSESSIONID", encrypt(HOST, v), expires=FAR, secure=False)
    f.expect("JSESSIONID", v, expires=FAR, secure=False)
    v = random_value("plain")
    f.add("plain", b"", plain_value=v, httponly=False)
    f.expect("plain", v, httponly=False)
    common_traps(f, encrypt, wrong, hashed=False)
    f.finish({"linux_keyring_passwords": []})


def main():
    windows()
    macos()
    linux_old()
    print(f"wrote fixtures under {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
