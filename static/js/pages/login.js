// Login page: Facebook JS SDK login (or the demo account), then the server turns
// the token into a session; several Instagram accounts mean the person chooses.
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
  const chooser = box.querySelector('[data-account-chooser]');
  const buttons = [...box.querySelectorAll('.login-buttons button')];
  let sdkState = 'loading';
  let pending = null; // {url, body} of the login that asked to choose an account

  function baseBody() {
    const body = { timezone: timezone() };
    if (box.dataset.next) body.next = box.dataset.next;
    return body;
  }

  function setBusy(busy) {
    buttons.forEach((button) => {
      button.disabled = busy;
    });
    chooser.querySelectorAll('button, input').forEach((el) => {
      el.disabled = busy;
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
      const accounts = err.data && err.data.accounts;
      if (err.status === 409 && Array.isArray(accounts) && accounts.length) {
        pending = { url, body };
        showChooser(accounts, err.message);
      } else {
        showError(err.message);
      }
    }
  }

  function showChooser(accounts, message) {
    const options = chooser.querySelector('[data-account-options]');
    options.replaceChildren();
    accounts.forEach((account, i) => {
      const wrap = document.createElement('div');
      wrap.className = 'form-check';
      const input = document.createElement('input');
      input.className = 'form-check-input';
      input.type = 'radio';
      input.name = 'ig_id';
      input.id = `ig-account-${i}`;
      input.value = account.ig_id;
      input.checked = i === 0;
      const label = document.createElement('label');
      label.className = 'form-check-label';
      label.htmlFor = input.id;
      label.textContent = `${account.page || 'Facebook Page'} (Instagram account ${account.ig_id})`;
      wrap.append(input, label);
      options.append(wrap);
    });
    showError(message, 'info');
    chooser.hidden = false;
    options.querySelector('input').focus();
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
  chooser.addEventListener('submit', (event) => {
    event.preventDefault();
    const choice = chooser.querySelector('input[name="ig_id"]:checked');
    if (!choice || !pending) return;
    sendLogin(pending.url, { ...pending.body, ig_id: choice.value });
  });
  loadSdk();
}

const loginBox = document.querySelector('[data-login]');
if (loginBox) setupLogin(loginBox);
