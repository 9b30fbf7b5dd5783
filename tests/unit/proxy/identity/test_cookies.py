"""The session cookie's signature and the CSRF token bound to a session."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from govledger.proxy.identity.cookies import CookieSigner

SIGNER = CookieSigner(b"k" * 32)


def test_a_cookie_this_key_signed_gives_back_its_secret() -> None:
    cookie, secret = SIGNER.new_cookie()
    assert SIGNER.secret_of(cookie) == secret
    assert secret.startswith("gls-")
    assert cookie != SIGNER.new_cookie()[0]


def test_a_cookie_signed_with_another_key_is_refused() -> None:
    cookie, _ = CookieSigner(b"x" * 32).new_cookie()
    assert SIGNER.secret_of(cookie) is None


@given(position=st.integers(min_value=0, max_value=200), char=st.sampled_from("Aa0_-."))
def test_changing_any_character_of_a_cookie_voids_it(position: int, char: str) -> None:
    cookie, _ = SIGNER.new_cookie()
    index = position % len(cookie)
    if cookie[index] == char:
        return
    tampered = cookie[:index] + char + cookie[index + 1 :]
    assert SIGNER.secret_of(tampered) is None


@given(st.text(max_size=400))
def test_arbitrary_text_is_never_a_cookie(text: str) -> None:
    assert SIGNER.secret_of(text) is None


def test_the_csrf_token_is_bound_to_its_session() -> None:
    token = SIGNER.csrf_token("s1")
    assert SIGNER.csrf_ok("s1", token)
    assert not SIGNER.csrf_ok("s2", token)
    assert not SIGNER.csrf_ok("s1", None)
    assert not SIGNER.csrf_ok("s1", "")
