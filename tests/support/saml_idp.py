"""A SAML 2.0 identity provider built on pysaml2, for the gateway's tests.

Usage: saml_idp.py '<json settings>'   settings: {"users": {login: {"name_id": ..., "attributes": {...}}}}

Listens on 127.0.0.1 (a port of its own choosing), prints one JSON line
{"port", "entity_id", "metadata_url"} and serves until stdin closes:

  GET  /metadata          the IdP's metadata (signing certificate included)
  POST /sp-metadata       loads the SP's metadata (the gateway's, as a partner would import it)
  GET  /sso/redirect      an AuthnRequest over the HTTP-Redirect binding: a login form
  POST /sso/login         signs in `login` and answers with pysaml2's HTTP-POST binding form
  POST /next              JSON for the next response only: sign_response, sign_assertion,
                          sign_alg ("sha256" | "sha1"), audience, destination,
                          authn_class, shift_minutes (every time attribute moved),
                          drop_confirmation_expiry, encrypt_cert (the SP certificate file),
                          mutations ([[old, new], ...] applied to the XML before it is
                          signed, so the result is validly signed)
  POST /unsolicited       JSON {"login", "acs", "sp_entity_id"}: an IdP-initiated response form
  GET  /slo/redirect      a LogoutRequest over the HTTP-Redirect binding, parsed and recorded
  GET  /logouts           the LogoutRequests received, as JSON

Keys are made at start (RSA 2048, self-signed), as a partner's IdP has its own.
"""

import datetime
import json
import os
import sys
import tempfile
import threading
import urllib.parse
from wsgiref.simple_server import WSGIRequestHandler, make_server

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_REDIRECT, saml, samlp
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.s_utils import sid
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_PERSISTENT
from saml2.server import Server
from saml2.sigver import pre_encryption_part, pre_signature_part
from saml2 import xmldsig as ds

SETTINGS = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
USERS = SETTINGS.get("users", {})
WORK = tempfile.mkdtemp(prefix="saml-idp-")


def make_keys():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Partner SAML IdP")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_file = os.path.join(WORK, "idp.key")
    cert_file = os.path.join(WORK, "idp.crt")
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


IDP = None
BASE = None
PENDING = {}
NEXT = {}
LOGOUTS = []
LOCK = threading.Lock()


def configure(port):
    global IDP, BASE
    BASE = f"http://127.0.0.1:{port}"
    key_file, cert_file = make_keys()
    conf = IdPConfig()
    conf.load(
        {
            "entityid": f"{BASE}/metadata",
            "service": {
                "idp": {
                    "name": "Partner SAML IdP",
                    "endpoints": {
                        "single_sign_on_service": [(f"{BASE}/sso/redirect", BINDING_HTTP_REDIRECT)],
                        "single_logout_service": [(f"{BASE}/slo/redirect", BINDING_HTTP_REDIRECT)],
                    },
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 15},
                            "attribute_restrictions": None,
                            "name_form": NAME_FORMAT_URI,
                        }
                    },
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    "want_authn_requests_signed": False,
                }
            },
            "key_file": key_file,
            "cert_file": cert_file,
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "metadata": {},
            "delete_tmpfiles": True,
        }
    )
    IDP = Server(config=conf)
    IDP.ticket = {}


def form_page(action, fields):
    inputs = "".join(
        f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items()
    )
    return (
        "<!doctype html><html><body onload=\"document.forms[0].submit()\">"
        f'<form method="post" action="{action}">{inputs}<noscript><button type="submit">Continue</button></noscript></form>'
        "</body></html>"
    )


def build_response(login, in_response_to, destination, sp_entity_id, relay_state, opts):
    user = USERS[login]
    name_id = saml.NameID(format=NAMEID_FORMAT_PERSISTENT, text=user["name_id"])
    authn = {
        "class_ref": opts.get("authn_class", "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"),
        "authn_auth": BASE,
    }
    resp = IDP.create_authn_response(
        identity=user.get("attributes", {}),
        in_response_to=in_response_to,
        destination=opts.get("destination", destination),
        sp_entity_id=opts.get("audience", sp_entity_id),
        name_id=name_id,
        authn=authn,
        sign_response=False,
        sign_assertion=False,
    )
    if isinstance(resp, str):
        resp = samlp.response_from_string(resp)
    sign_alg = ds.SIG_RSA_SHA1 if opts.get("sign_alg") == "sha1" else ds.SIG_RSA_SHA256
    digest_alg = ds.DIGEST_SHA1 if opts.get("sign_alg") == "sha1" else ds.DIGEST_SHA256
    sign_assertion = opts.get("sign_assertion", True)
    sign_response = opts.get("sign_response", True)
    to_sign = []
    if sign_assertion:
        resp.assertion.signature = pre_signature_part(resp.assertion.id, IDP.sec.my_cert, 1, digest_alg=digest_alg, sign_alg=sign_alg)
        to_sign.append(("urn:oasis:names:tc:SAML:2.0:assertion:Assertion", resp.assertion.id))
    if sign_response:
        resp.signature = pre_signature_part(resp.id, IDP.sec.my_cert, 2, digest_alg=digest_alg, sign_alg=sign_alg)
        to_sign.append(("urn:oasis:names:tc:SAML:2.0:protocol:Response", resp.id))
    xml = resp.to_string().decode() if isinstance(resp.to_string(), bytes) else resp.to_string()
    shift = opts.get("shift_minutes")
    if shift:
        import re

        def moved(m):
            t = datetime.datetime.strptime(m.group(2)[:19], "%Y-%m-%dT%H:%M:%S") + datetime.timedelta(minutes=shift)
            return f'{m.group(1)}="{t.strftime("%Y-%m-%dT%H:%M:%SZ")}"'

        xml = re.sub(r'(NotBefore|NotOnOrAfter|IssueInstant|AuthnInstant)="([^"]+)"', moved, xml)
    if opts.get("drop_confirmation_expiry"):
        import re

        xml = re.sub(r'(<ns1:SubjectConfirmationData[^>]*?) NotOnOrAfter="[^"]*"', r"\1", xml)
    for old, new in opts.get("mutations", []):
        if old not in xml:
            raise ValueError(f"mutation target not found: {old}")
        xml = xml.replace(old, new)
    for node_name, node_id in to_sign:
        if node_name.endswith(":Response") and opts.get("encrypt_cert"):
            xml = encrypt(xml, opts["encrypt_cert"])
        xml = IDP.sec.sign_statement(xml, node_name=node_name, node_id=node_id)
    if opts.get("encrypt_cert") and not sign_response:
        xml = encrypt(xml, opts["encrypt_cert"])
    if isinstance(xml, bytes):
        xml = xml.decode()
    import base64

    fields = {"SAMLResponse": base64.b64encode(xml.encode()).decode()}
    if relay_state:
        fields["RelayState"] = relay_state
    return form_page(destination, fields), xml


def encrypt(xml, cert_file):
    """The (signed) assertion encrypted to the SP's certificate: AES-128-CBC, RSA-OAEP."""
    if isinstance(xml, bytes):
        xml = xml.decode()
    start = xml.index("<ns1:Assertion")
    end = xml.index("</ns1:Assertion>") + len("</ns1:Assertion>")
    xml = f"{xml[:start]}<ns1:EncryptedAssertion>{xml[start:end]}</ns1:EncryptedAssertion>{xml[end:]}"
    with open(cert_file) as f:
        body = "".join(l for l in f.read().splitlines() if "CERTIFICATE" not in l)
    template = pre_encryption_part(
        msg_enc="http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        encrypt_cert=body,
    )
    # The dsig prefix as `ds`, declared on each KeyInfo (ADFS and Shibboleth write it so;
    # samael reads the KeyInfo only in that shape).
    template = str(template)
    dsig = "http://www.w3.org/2000/09/xmldsig#"
    for prefix in ("ns0", "ns1", "ns2"):
        decl = f'xmlns:{prefix}="{dsig}"'
        if decl in template:
            template = template.replace(decl, f'xmlns:ds="{dsig}"').replace(f"{prefix}:", "ds:")
    template = template.replace("<ds:KeyInfo>", f'<ds:KeyInfo xmlns:ds="{dsig}">')
    return IDP.sec.encrypt_assertion(xml, cert_file, template, key_type="aes-128")


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "GET")
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""

    def reply(status, content, ctype="text/html; charset=utf-8"):
        data = content.encode() if isinstance(content, str) else content
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data)))])
        return [data]

    try:
        if path == "/metadata" and method == "GET":
            xml = create_metadata_string(None, config=IDP.config, valid=24, sign=False)
            return reply("200 OK", xml, "application/samlmetadata+xml")
        if path == "/sp-metadata" and method == "POST":
            IDP.metadata.load("inline", body.decode())
            return reply("200 OK", "loaded", "text/plain")
        if path == "/next" and method == "POST":
            with LOCK:
                NEXT.clear()
                NEXT.update(json.loads(body or b"{}"))
            return reply("200 OK", "ok", "text/plain")
        if path == "/sso/redirect" and method == "GET":
            req = IDP.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
            key = sid()
            PENDING[key] = (req.message, query.get("RelayState", [""])[0])
            return reply(
                "200 OK",
                "<!doctype html><html><head><title>Partner sign-in</title></head><body>"
                '<form method="post" action="/sso/login">'
                f'<input type="hidden" name="key" value="{key}">'
                '<label for="login">User</label><input id="login" name="login">'
                '<button type="submit" id="signin">Sign in</button></form></body></html>',
            )
        if path == "/sso/login" and method == "POST":
            form = urllib.parse.parse_qs(body.decode())
            message, relay_state = PENDING.pop(form["key"][0])
            login = form["login"][0]
            if login not in USERS:
                return reply("403 Forbidden", "unknown user")
            with LOCK:
                opts = dict(NEXT)
                NEXT.clear()
            page, _ = build_response(
                login,
                message.id,
                message.assertion_consumer_service_url,
                message.issuer.text,
                relay_state,
                opts,
            )
            return reply("200 OK", page)
        if path == "/slo/redirect" and method == "GET":
            req = IDP.parse_logout_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT)
            msg = req.message
            LOGOUTS.append(
                {
                    "issuer": msg.issuer.text if msg.issuer is not None else None,
                    "name_id": msg.name_id.text if msg.name_id is not None else None,
                    "name_id_format": msg.name_id.format if msg.name_id is not None else None,
                    "session_index": [s.text for s in msg.session_index],
                    "destination": msg.destination,
                }
            )
            return reply("200 OK", "<!doctype html><title>Signed out</title><p>You are signed out at the partner.</p>")
        if path == "/logouts" and method == "GET":
            return reply("200 OK", json.dumps(LOGOUTS), "application/json")
        if path == "/unsolicited" and method == "POST":
            req = json.loads(body)
            with LOCK:
                opts = dict(NEXT)
                NEXT.clear()
            page, _ = build_response(req["login"], None, req["acs"], req["sp_entity_id"], "", opts)
            return reply("200 OK", page)
        return reply("404 Not Found", "not found", "text/plain")
    except Exception as e:  # a test peer: say what went wrong
        import traceback

        traceback.print_exc()
        return reply("500 Internal Server Error", f"{type(e).__name__}: {e}", "text/plain")


def main():
    server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    port = server.server_port
    configure(port)
    print(json.dumps({"port": port, "entity_id": f"{BASE}/metadata", "metadata_url": f"{BASE}/metadata"}), flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Stop when the test (our parent) closes our stdin or exits.
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
