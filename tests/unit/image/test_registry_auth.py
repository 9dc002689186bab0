"""The registry auth core: X-Registry-Auth, WWW-Authenticate challenges, the token flow."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from dockyard.errors import InvalidParameter, Unauthorized
from dockyard.image.distribution.auth import (AuthConfig, Authenticator, decode_registry_auth,
                                              parse_challenges, repository_scope)


def _header(obj: object, pad: bool = True) -> str:
    text = base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()
    return text if pad else text.rstrip("=")


def test_x_registry_auth_decodes_docker_cli_and_docker_py_forms():
    cfg = decode_registry_auth(_header({"username": "u", "password": "p?>", "serveraddress": "r:5000"}, pad=False))
    assert (cfg.username, cfg.password, cfg.serveraddress) == ("u", "p?>", "r:5000")
    legacy = decode_registry_auth(_header({"auth": base64.b64encode(b"alice:s3:cret").decode()}))
    assert (legacy.username, legacy.password) == ("alice", "s3:cret")
    assert decode_registry_auth(_header({"Username": "U", "Password": "P"})).username == "U"
    assert decode_registry_auth("e30=") == AuthConfig()  # {} — what the CLI sends without login
    assert decode_registry_auth(None) == AuthConfig() and decode_registry_auth("") == AuthConfig()


@pytest.mark.parametrize("bad", ["!!!", base64.urlsafe_b64encode(b"[1,2]").decode(),
                                 base64.urlsafe_b64encode(b"{not json").decode()])
def test_x_registry_auth_garbage_is_a_clear_400(bad):
    with pytest.raises(InvalidParameter, match="invalid X-Registry-Auth header"):
        decode_registry_auth(bad)


def test_challenges_parse_quoted_params_and_several_schemes():
    [c] = parse_challenges('Bearer realm="https://auth.example/token",service="registry.example",'
                           'scope="repository:a/b:pull,push"')
    assert c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.example/token", "service": "registry.example",
                        "scope": "repository:a/b:pull,push"}
    both = parse_challenges('Basic realm="x y", Bearer realm="http://t/\\"q\\"",error="invalid_token"')
    assert [c.scheme for c in both] == ["basic", "bearer"]
    assert both[0].params == {"realm": "x y"} and both[1].params["realm"] == 'http://t/"q"'
    assert parse_challenges("") == []
    assert parse_challenges('basic realm=registry') == [parse_challenges('Basic realm="registry"')[0]]


def test_anonymous_bearer_flow_asks_the_token_server_for_the_scope():
    a = Authenticator(AuthConfig(), [repository_scope("library/busybox", ["pull"])])
    assert a.header() is None
    req = a.on_challenge('Bearer realm="http://127.0.0.1:9/token",service="reg"')
    assert req is not None and req.authorization is None
    q = parse_qs(urlsplit(req.url).query)
    assert q == {"service": ["reg"], "scope": ["repository:library/busybox:pull"]}
    a.on_token(200, b'{"token": "abc", "expires_in": 300}')
    assert a.header() == "Bearer abc"
    a2 = Authenticator(AuthConfig(), [])
    a2.on_challenge('Bearer realm="http://t/token?x=1"')
    a2.on_token(200, b'{"access_token": "zz"}')
    assert a2.header() == "Bearer zz"


def test_bearer_with_credentials_sends_basic_to_the_token_server_and_merges_scopes():
    a = Authenticator(AuthConfig(username="bob", password="pw"), [repository_scope("x/y", ["pull", "push"])])
    req = a.on_challenge('Bearer realm="http://t/token",service="s",scope="repository:other:pull"')
    assert req is not None
    assert req.authorization == "Basic " + base64.b64encode(b"bob:pw").decode()
    q = parse_qs(urlsplit(req.url).query)
    assert q["scope"] == ["repository:x/y:pull,push", "repository:other:pull"] and q["account"] == ["bob"]
    with pytest.raises(Unauthorized, match="incorrect username or password|unauthorized"):
        a.on_token(401, b'{"details":"incorrect username or password"}')


def test_the_same_challenge_twice_means_refused():
    a = Authenticator(AuthConfig(username="u", password="p"), ["repository:r:pull"])
    a.on_challenge('Bearer realm="http://t/token"')
    a.on_token(200, b'{"token":"t"}')
    with pytest.raises(Unauthorized):
        a.on_challenge('Bearer realm="http://t/token"', "unauthorized: access to the requested resource")


def test_basic_challenge_uses_credentials_once_and_refuses_anonymous():
    a = Authenticator(AuthConfig(username="u", password="p"), [])
    assert a.on_challenge('Basic realm="r"') is None
    assert a.header() == "Basic " + base64.b64encode(b"u:p").decode()
    with pytest.raises(Unauthorized, match="authentication required"):
        a.on_challenge('Basic realm="r"', "unauthorized: authentication required")
    with pytest.raises(Unauthorized):
        Authenticator(AuthConfig(), []).on_challenge('Basic realm="r"')
    with pytest.raises(Unauthorized):
        Authenticator(AuthConfig(), []).on_challenge("")
    with pytest.raises(Unauthorized, match="without a token"):
        Authenticator(AuthConfig(), []).on_token(200, b"{}")


def test_identity_token_uses_the_oauth2_refresh_grant_and_registry_token_is_sent_as_is():
    a = Authenticator(AuthConfig(identitytoken="refresh-me"), [repository_scope("a/b", ["pull"])])
    req = a.on_challenge('Bearer realm="http://t/token",service="svc"')
    assert req is not None and req.url == "http://t/token" and req.authorization is None
    assert req.form == {"grant_type": "refresh_token", "refresh_token": "refresh-me", "client_id": "docker",
                        "service": "svc", "scope": "repository:a/b:pull"}
    a.on_token(200, b'{"access_token": "acc"}')
    assert a.header() == "Bearer acc"
    assert Authenticator(AuthConfig(registrytoken="rt"), []).header() == "Bearer rt"
    cfg = decode_registry_auth(_header({"identitytoken": "x", "registrytoken": "y"}))
    assert (cfg.identitytoken, cfg.registrytoken) == ("x", "y")


def test_scopes_merge_per_repository():
    from dockyard.image.distribution.auth import merge_scopes

    assert merge_scopes(["repository:a:pull,push", "repository:a:push,pull", "repository:b:pull", ""]) == \
        ["repository:a:pull,push", "repository:b:pull"]
    assert merge_scopes(["repository:a:pull", "repository:a:push"]) == ["repository:a:pull,push"]
    assert merge_scopes(["registry:catalog:*"]) == ["registry:catalog:*"]
