"""python -m authlab decode|verify: one JSON object, exit 0/1, usage errors exit 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time

import pytest

from authlab.tokens.attacks import make_lab
from authlab.tokens.cli import main

# The command line checks tokens against the real clock, so the lab is made at the time of the
# first test that needs it (not at import: a collection long before would let nbf = now + 600 pass).
ATTACKS = [attack.name for attack in make_lab().gallery()]


@pytest.fixture(scope="module")
def lab():
    return make_lab(now=time.time())


@pytest.fixture(scope="module")
def gallery(lab):
    return {attack.name: attack for attack in lab.gallery()}


@pytest.fixture
def jwks_file(tmp_path, lab):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(lab.jwks))
    return str(path)


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def verify_args(lab, jwks_file: str, *extra: str) -> list[str]:
    return ["--jwks", jwks_file, "--issuer", lab.issuer, "--audience", lab.audience, *extra]


def test_verify_valid_token_prints_claims_and_exits_0(lab, jwks_file):
    code, out, _ = run("verify", lab.token(), *verify_args(lab, jwks_file, "--token-use", "id"))
    assert code == 0
    result = json.loads(out)
    assert result["valid"] is True and result["claims"]["cognito:username"] == "alice"
    assert out.count("\n") == 1  # exactly one JSON object, on one line


@pytest.mark.parametrize("name", ATTACKS)
def test_verify_refuses_every_attack_with_its_code(lab, gallery, jwks_file, name):
    attack = gallery[name]
    code, out, _ = run("verify", attack.token, *verify_args(lab, jwks_file, "--token-use", "id"))
    assert code == 1
    result = json.loads(out)
    assert set(result) == {"valid", "code", "message"}
    assert result["valid"] is False and result["code"] == attack.expected.code


def test_token_from_stdin(lab, jwks_file):
    code, out, _ = run("verify", "-", *verify_args(lab, jwks_file), stdin=lab.token() + "\n")
    assert code == 0 and json.loads(out)["valid"] is True


def test_multiple_audiences_client_id_and_leeway(lab, jwks_file):
    token = lab.token(lab.claims(aud="mobile-client"))
    args = ["--jwks", jwks_file, "--issuer", lab.issuer]
    code, _, _ = run("verify", token, *args, "--audience", "web", "--audience", "mobile-client")
    assert code == 0
    access = lab.token(lab.claims(token_use="access", aud=None, client_id="web"))
    code, out, _ = run("verify", access, *args, "--client-id", "web", "--token-use", "access")
    assert code == 0, out
    code, out, _ = run("verify", access, *args, "--client-id", "other", "--token-use", "access")
    assert (code, json.loads(out)["code"]) == (1, "wrong_client_id")
    now = int(lab.clock.now())
    late = lab.token(lab.claims(exp=int(time.time()) - 30, iat=now - 3600))
    assert run("verify", late, *verify_args(lab, jwks_file))[0] == 1
    assert run("verify", late, *verify_args(lab, jwks_file, "--leeway", "300"))[0] == 0


def test_unreadable_jwks_is_a_json_refusal(lab, tmp_path):
    code, out, _ = run("verify", lab.token(), "--jwks", str(tmp_path / "no.json"), "--issuer", "x")
    assert code == 1 and json.loads(out)["code"] == "jwks_unavailable"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["verify", "t"],  # --jwks and --issuer are required
        ["verify", "t", "--jwks", "j", "--issuer", "i", "--token-use", "refresh"],
        ["verify", "t", "--jwks", "j", "--issuer", "i", "--leeway", "soon"],
        ["frobnicate", "t"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert run(*argv)[0] == 2


def test_negative_leeway_is_a_usage_error(lab, jwks_file):
    code, out, err = run("verify", lab.token(), *verify_args(lab, jwks_file, "--leeway", "-1"))
    assert code == 2 and out == "" and "leeway" in err


def test_decode_shows_header_and_claims_unverified(gallery):
    code, out, _ = run("decode", gallery[ATTACKS[0]].token)
    assert code == 0
    assert '"alg": "none"' in out and '"role": "admin"' in out and "unverified" in out
    assert "\033[" not in out  # not a terminal: no colours


def test_decode_malformed_exits_1():
    code, out, err = run("decode", "not-a-token")
    assert code == 1 and out == "" and "Cannot decode" in err


def test_python_dash_m_authlab(lab, jwks_file):
    result = subprocess.run(
        [sys.executable, "-m", "authlab", "verify", "-", *verify_args(lab, jwks_file)],
        input=lab.token(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["valid"] is True


def test_verify_fetches_a_jwks_url(lab):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = json.dumps(lab.jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
        code, out, _ = run("verify", lab.token(), "--jwks", url, "--issuer", lab.issuer,
                           "--audience", lab.audience)  # fmt: skip
        assert code == 0 and json.loads(out)["valid"] is True
    finally:
        server.shutdown()
        server.server_close()


def _signed_text(lab, payload: str) -> str:
    import jwt

    from authlab.tokens.forge import b64url

    header = json.dumps({"alg": "RS256", "typ": "JWT", "kid": lab.kid})
    signing_input = f"{b64url(header.encode())}.{b64url(payload.encode())}"
    rs256 = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)
    return f"{signing_input}.{b64url(rs256.sign(signing_input.encode(), lab.issuer_key))}"


def _strict(text: str):
    def refuse(name):
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("splice", "expected"),
    [
        ('"exp": 1' + "0" * 400, "bad_claim"),
        ('"nbf": -1' + "0" * 400, "bad_claim"),
        ('"iat": 1e308', "bad_claim"),
        ('"x": 1e400', "malformed"),
        ('"x": [[-1e999]]', "malformed"),
        ('"x": ' + "[" * 40 + "]" * 40, "malformed"),
    ],
)
def test_verify_answers_strict_json_for_huge_and_non_finite_numbers(
    lab, jwks_file, splice, expected
):
    claims = {k: v for k, v in lab.claims().items() if k not in ("exp", "nbf", "iat")}
    claims["exp"] = int(time.time()) + 600
    body = json.dumps({k: v for k, v in claims.items() if f'"{k}"' not in splice})
    token = _signed_text(lab, body[:-1] + ", " + splice + "}")
    code, out, err = run("verify", token, *verify_args(lab, jwks_file))
    assert (code, err) == (1, "")
    result = _strict(out)
    assert result["valid"] is False and result["code"] == expected


def test_decode_of_huge_numbers_prints_and_exits_0(lab):
    token = _signed_text(lab, '{"exp": 1' + "0" * 400 + ', "sub": "x"}')
    code, out, _ = run("decode", token, "--no-color")
    assert code == 0 and "sub" in out


def test_a_small_rsa_key_in_the_jwks_is_a_json_refusal(lab, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import rsa

    from authlab.tokens.jwks import make_jwks

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path = tmp_path / "small.json"
    path.write_text(json.dumps(make_jwks(small, lab.kid)))
    code, out, _ = run("verify", lab.token(), *verify_args(lab, str(path)))
    result = _strict(out)
    assert (code, result["code"]) == (1, "jwks_unavailable") and "2048" in result["message"]


@pytest.mark.parametrize("leeway", ["inf", "nan", "-1", "1e9"])
def test_leeway_out_of_range_is_a_usage_error(lab, jwks_file, leeway):
    code, out, err = run("verify", lab.token(), *verify_args(lab, jwks_file), "--leeway", leeway)
    assert (code, out) == (2, "") and "leeway" in err
