// The passkey page's one script: runs the WebAuthn ceremony the server described in
// #passkey-options (navigator.credentials.create or .get), then posts the browser's answer
// in the form. Byte fields travel as base64url, as webauthn-rs reads and writes them.
(function () {
  'use strict';
  function decode(s) {
    var b = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
    var out = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
    return out.buffer;
  }
  function encode(buf) {
    var bytes = new Uint8Array(buf), s = '';
    for (var i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  var form = document.getElementById('passkey-form');
  var button = document.getElementById('passkey-go');
  button.addEventListener('click', function () {
    var options = JSON.parse(document.getElementById('passkey-options').textContent).publicKey;
    options.challenge = decode(options.challenge);
    var register = form.dataset.mode === 'register';
    var run;
    if (register) {
      options.user.id = decode(options.user.id);
      (options.excludeCredentials || []).forEach(function (c) { c.id = decode(c.id); });
      run = navigator.credentials.create({ publicKey: options }).then(function (c) {
        return {
          id: c.id, rawId: encode(c.rawId), type: c.type,
          response: {
            attestationObject: encode(c.response.attestationObject),
            clientDataJSON: encode(c.response.clientDataJSON)
          },
          extensions: c.getClientExtensionResults()
        };
      });
    } else {
      (options.allowCredentials || []).forEach(function (c) { c.id = decode(c.id); });
      run = navigator.credentials.get({ publicKey: options }).then(function (c) {
        return {
          id: c.id, rawId: encode(c.rawId), type: c.type,
          response: {
            authenticatorData: encode(c.response.authenticatorData),
            clientDataJSON: encode(c.response.clientDataJSON),
            signature: encode(c.response.signature),
            userHandle: c.response.userHandle ? encode(c.response.userHandle) : null
          },
          extensions: c.getClientExtensionResults()
        };
      });
    }
    button.disabled = true;
    run.then(function (answer) {
      document.getElementById('credential').value = JSON.stringify(answer);
      form.submit();
    }, function () {
      button.disabled = false;
      document.getElementById('passkey-failed').hidden = false;
    });
  });
})();
