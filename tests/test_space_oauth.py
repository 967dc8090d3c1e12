"""Signed-in users (Hugging Face OAuth) are keyed ``hf:<username>`` and isolated from anonymous visitors and
from each other.

Outside a Space, an app with a ``gr.LoginButton`` gets gradio's *mocked* OAuth routes: ``/login/huggingface``
signs the browser in, through gradio's signed session cookie, as the account that ``whoami()`` names. That
``whoami()`` is the only network call, so it is answered by a stub here; the login routes, the session cookie,
the session middleware and ``gr.Request.session`` are gradio's own code, as on a Space.
"""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import httpx
import pytest
from conftest import make_synthetic_bundle
from gradio_client import Client
from test_app import free_port

pytestmark = pytest.mark.filterwarnings("ignore:Gradio does not support OAuth:UserWarning")  # the mocked routes say so


def _account(name: str) -> dict:
    return {"type": "user", "name": name, "fullname": name.title(), "avatarUrl": ""}


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """Two launches of the app over one ratings DB: alice signs in on the first, bob on the second."""
    import gradio.oauth

    from jewelrec.space import SpaceService
    from jewelrec.space.ratings import RatingStore
    from jewelrec.space.ui import build_demo, launch_kwargs

    data = tmp_path_factory.mktemp("oauth-data")
    bundle = make_synthetic_bundle(n_items=60, n_clusters=6, seed=0)
    demos, urls = [], {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OAUTH_CLIENT_ID", "test-client")  # what a Space with hf_oauth sets: the page gets a LoginButton
        mp.setenv("HF_TOKEN", "hf_local_test_token")  # the mocked login needs a token to exist; whoami is stubbed
        for user in ("alice", "bob"):
            mp.setattr(gradio.oauth, "whoami", lambda user=user: _account(user))
            service = SpaceService.start(bundle, {"notice": "oauth test"}, RatingStore(data / "ratings.db"))
            demo = build_demo(service)
            demo.queue(max_size=64, default_concurrency_limit=4)
            _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True,
                                    **(launch_kwargs(data) | {"server_port": free_port()}))
            demos.append(demo)
            urls[user] = url.rstrip("/")
    yield {"urls": urls, "db": data / "ratings.db", "ids": bundle.item_ids}
    for demo in demos:
        demo.close()


def sign_in(url: str) -> str:
    """Walk the login redirect like a browser; return the session cookie it sets."""
    login = httpx.get(f"{url}/login/huggingface")
    assert login.status_code in (302, 307), login.text[:200]
    callback = httpx.get(login.headers["location"] if login.headers["location"].startswith("http")
                         else url + login.headers["location"])
    assert callback.status_code in (302, 307) and "session" in callback.cookies, callback.headers
    return callback.cookies["session"]


def client(url: str, session_cookie: str | None = None) -> Client:
    # The cookie is Secure (a Space is served over https); send it by hand over the test's plain http.
    headers = {"Cookie": f"session={session_cookie}"} if session_cookie else None
    return Client(url, verbose=False, headers=headers, download_files=False)


def stored(db) -> dict[str, dict[str, int]]:
    by_user: dict[str, dict[str, int]] = {}
    for user, item, stars in sqlite3.connect(db).execute("SELECT user_id, item_id, stars FROM ratings"):
        by_user.setdefault(user, {})[item] = stars
    return by_user


def test_signed_in_ratings_are_keyed_by_username_and_isolated(replicas):
    urls, ids = replicas["urls"], replicas["ids"]
    config = httpx.get(f"{urls['alice']}/config").json()
    buttons = [c.get("props", {}).get("value") for c in config["components"] if c.get("type") == "button"]
    assert "Sign in with Hugging Face" in buttons  # the page offers sign-in (gr.LoginButton)
    alice = client(urls["alice"], sign_in(urls["alice"]))
    bob = client(urls["bob"], sign_in(urls["bob"]))
    anonymous = client(urls["alice"])
    alice.predict(ids[0], 5, api_name="/rate")
    alice.predict(ids[6], 4, api_name="/rate")
    bob.predict(ids[1], 2, api_name="/rate")
    anonymous.predict(ids[2], 3, api_name="/rate")

    assert alice.predict(api_name="/my_ratings") == {ids[0]: 5, ids[6]: 4}
    assert bob.predict(api_name="/my_ratings") == {ids[1]: 2}
    assert anonymous.predict(api_name="/my_ratings") == {ids[2]: 3}
    by_user = stored(replicas["db"])
    assert by_user.pop("hf:alice") == {ids[0]: 5, ids[6]: 4} and by_user.pop("hf:bob") == {ids[1]: 2}
    ((anon_key, anon_ratings),) = by_user.items()
    assert anon_key.startswith("session:") and anon_ratings == {ids[2]: 3}

    # the identity is the account, not the connection: alice signing in again (another browser, the other
    # replica) sees her ratings; her picks follow them, not bob's
    again = client(urls["bob"], sign_in(urls["alice"]))
    assert again.predict(api_name="/my_ratings") == {ids[0]: 5, ids[6]: 4}
    assert all("signature piece" not in r["why"] for r in again.predict(3, api_name="/recommend"))


def test_signed_in_user_wins_over_the_browser_id():
    """The UI's handlers resolve identity the same way: OAuth username (gradio's injected ``gr.OAuthProfile``,
    None when signed out or expired), else this browser's id, else the session."""
    import gradio as gr

    from jewelrec.space.ui import _user

    def profile(username: str | None):
        return gr.OAuthProfile({"name": username, "preferred_username": username, "profile": "", "picture": ""}) \
            if username else None

    def request(session_hash: str = "s1"):
        return SimpleNamespace(session={}, session_hash=session_hash)

    from jewelrec.space import new_browser_id

    service = SimpleNamespace(secret=b"test-secret")
    browser = new_browser_id(None, service.secret)
    assert _user(service, browser, request(), profile("alice")) == "hf:alice"  # signed-in: the account
    assert _user(service, browser, request(), profile("bob")) == "hf:bob"
    assert _user(service, browser, request(), profile(None)) == f"browser:{browser}"
    assert _user(service, None, request("s2"), None) == "session:s2"
    assert _user(service, "../../etc", request("s3"), None) == "session:s3"  # a tampered browser id is not used
    assert _user(service, "b" * 48, request("s4"), None) == "session:s4"  # nor one this server did not sign


def test_an_expired_login_is_signed_out():
    """gradio injects no profile for an expired token, so the shopper rates under the browser id again."""
    import time

    from gradio import oauth

    valid = {"userinfo": {"preferred_username": "alice"}, "expires_at": time.time() + 3600}
    expired = {**valid, "expires_at": time.time() - 1}
    assert oauth._get_valid_oauth_info_from_session({"oauth_info": valid}) is not None
    assert oauth._get_valid_oauth_info_from_session({"oauth_info": expired}) is None
