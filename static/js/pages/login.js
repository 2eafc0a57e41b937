// Login page: Facebook JS SDK login (or the demo account), then the server turns
// the token into a session holding every Instagram account Meta lists.
// The SDK's address, the app id and the login URLs come from [data-login].

import { clearAlerts, showAlert } from '../lib/alerts.js';
import { fetchJson } from '../lib/http.js';

const SDK_TIMEOUT_MS = 15000;
// instagram_manage_comments: posting a post's first comment (and finding it
// again after a lost answer) needs it.
const FB_SCOPES = [
  'instagram_basic',
  'instagram_content_publish',
  'instagram_manage_comments',
  'pages_show_list',
  'pages_read_engagement',
  'business_management',
].join(',');

function timezone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

function setupLogin(box) {
  const alerts = box.querySelector('[data-login-alerts]');
  const buttons = [...box.querySelectorAll('.login-buttons button')];
  let sdkState = 'loading';

  function baseBody() {
    const body = { timezone: timezone() };
    if (box.dataset.next) body.next = box.dataset.next;
    return body;
  }

  function setBusy(busy) {
    buttons.forEach((button) => {
      button.disabled = busy;
    });
  }

  function showError(text, category = 'danger') {
    clearAlerts(alerts);
    showAlert(text, category, alerts);
  }

  function loadSdk() {
    // The SDK calls window.fbAsyncInit once it has loaded, and sets window.FB.
    window.fbAsyncInit = () => {
      window.FB.init({
        appId: box.dataset.appId,
        version: box.dataset.version,
        xfbml: false,
        cookie: false,
      });
      sdkState = 'ready';
    };
    const script = document.createElement('script');
    script.src = box.dataset.sdkUrl;
    script.async = true;
    script.defer = true;
    script.crossOrigin = 'anonymous';
    script.addEventListener('error', () => {
      sdkState = 'failed';
    });
    document.head.append(script);
    window.setTimeout(() => {
      if (sdkState === 'loading') sdkState = 'failed';
    }, SDK_TIMEOUT_MS);
  }

  async function sendLogin(url, body) {
    clearAlerts(alerts);
    setBusy(true);
    try {
      const data = await fetchJson(url, { method: 'POST', json: body });
      window.location.assign(data.redirect);
    } catch (err) {
      setBusy(false);
      showError(err.message);
    }
  }

  function facebookLogin() {
    if (sdkState !== 'ready') {
      showError(
        sdkState === 'loading'
          ? 'Facebook is still loading. Try again in a moment.'
          : 'Facebook login could not be loaded. Check your connection, or allow connect.facebook.net ' +
              'if an ad or tracker blocker stops it, then reload the page.',
      );
      return;
    }
    clearAlerts(alerts);
    window.FB.login(
      (response) => {
        if (response && response.authResponse) {
          sendLogin(box.dataset.loginUrl, {
            ...baseBody(),
            authResponse: { accessToken: response.authResponse.accessToken },
          });
        } else {
          showError('Facebook login was cancelled or not completed. Try again.', 'warning');
        }
      },
      { scope: FB_SCOPES, return_scopes: true },
    );
  }

  box.querySelector('[data-fb-login]').addEventListener('click', facebookLogin);
  const demo = box.querySelector('[data-demo-login]');
  if (demo) demo.addEventListener('click', () => sendLogin(box.dataset.demoUrl, baseBody()));
  loadSdk();
}

const loginBox = document.querySelector('[data-login]');
if (loginBox) setupLogin(loginBox);
