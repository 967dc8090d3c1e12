"""Who is asking: the id a shopper's ratings are stored under, and the signed anonymous per-browser ids a
server mints (and checks) for shoppers who are not signed in."""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from pathlib import Path

from jewelrec.space.ratings import data_dir


def user_key(oauth_username: str | None, browser_id: str | None, session_hash: str | None) -> str:
    """The id ratings are stored under: signed-in user, else this browser, else this connection."""
    if oauth_username:
        return _bounded("hf", oauth_username)
    if browser_id:
        return _bounded("browser", browser_id)
    if session_hash:
        return _bounded("session", session_hash)
    raise ValueError("no identity: sign in, or allow this site to keep a browser id")


MAX_KEY = 128  # the ratings store's id limit (MAX_ID_LEN)


def _bounded(kind: str, value: str) -> str:
    """``kind:value`` when it is short, printable text; else ``kind:sha256:…`` of it. Cutting a long value to 128
    characters made every raw-API session hash that shares its first 120 one shopper; a lone surrogate could not be
    stored or logged at all. A short value that itself starts ``sha256:`` is hashed too: kept as it is, it was the
    key of the long value it spells the hash of."""
    key = f"{kind}:{value}"
    if len(key) <= MAX_KEY and key.isprintable() and not value.startswith("sha256:"):
        try:
            key.encode("utf-8")
            return key
        except UnicodeEncodeError:
            pass
    return f"{kind}:sha256:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()}"


BROWSER_ID_HEX, SIGNATURE_HEX = 32, 16  # a random id and the first 64 bits of its HMAC-SHA256


def browser_state_key(secret: bytes) -> str:
    """The key ``gr.BrowserState`` encrypts the browser's copy of its id with, derived from ``secret`` (the signing
    key, :func:`browser_secret`) one way, as gradio hands it to the page: without one, gradio drew a random key per
    process, so after every restart (a redeploy, a Space waking up) no browser could read its id back, and every
    anonymous shopper became a new one, their ratings left behind under the old id."""
    return hmac.new(secret, b"jewelrec gr.BrowserState key", hashlib.sha256).hexdigest()[:32]


def browser_secret(directory: str | Path | None = None) -> bytes:
    """The server-side key that signs anonymous browser ids: ``$JEWELREC_SECRET``, else a random key kept in
    ``DATA_DIR/browser-id.key`` (created on first use, owner-only), so ids stay valid across restarts."""
    import secrets

    if os.environ.get("JEWELREC_SECRET"):
        return os.environ["JEWELREC_SECRET"].encode()
    path = Path(directory or data_dir()) / "browser-id.key"
    # bytes, whatever they are: a key made with `head -c 32 /dev/urandom` is a good key (read as text, it stopped
    # the Space with a bare "'utf-8' codec can't decode")
    key = path.read_bytes().strip() if path.is_file() else b""
    if key:
        return key
    # none yet, or an empty one (a crash between create and write): a new key, written whole, then published
    # atomically — os.link fails when another process published first, and then its key is the one
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
        handle.flush()
        os.fsync(handle.fileno())
    try:
        if path.is_file():  # our own empty file: replaced
            os.replace(draft, path)
        else:
            os.link(draft, path)
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: publish by rename (a tie between processes is rare)
        if not path.exists():
            os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)
    return path.read_bytes().strip()


def _signature(random_id: str, secret: bytes) -> str:
    return hmac.new(secret, random_id.encode(), hashlib.sha256).hexdigest()[:SIGNATURE_HEX]


def verify_browser_id(token: str | None, secret: bytes) -> str | None:
    """``token`` when this server minted it (its signature checks out), else None: a client cannot make up, or
    copy in by hand, an id it was not given."""
    if not isinstance(token, str) or len(token) != BROWSER_ID_HEX + SIGNATURE_HEX:
        return None
    random_id, signature = token[:BROWSER_ID_HEX], token[BROWSER_ID_HEX:]
    if not all(c in "0123456789abcdef" for c in token):
        return None
    return token if hmac.compare_digest(signature, _signature(random_id, secret)) else None


def new_browser_id(current: str | None, secret: bytes) -> str:
    """Keep a valid signed id; otherwise mint a random one (never derived from anything about the user)."""
    if verify_browser_id(current, secret):
        return current
    random_id = uuid.uuid4().hex
    return random_id + _signature(random_id, secret)
