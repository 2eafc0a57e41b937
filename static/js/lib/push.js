// Browser notifications on the account page: register Ospost's service worker,
// subscribe with the server's VAPID key and hand the subscription to Ospost.
// Everything it needs comes from the [data-push] element's data- attributes.

import { showAlert } from './alerts.js';
import { fetchJson } from './http.js';

// The Push API wants the key as bytes; the page has it as base64url.
function keyBytes(base64url) {
  const padded = base64url.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(padded + '='.repeat((4 - (padded.length % 4)) % 4));
  return Uint8Array.from(raw, (char) => char.charCodeAt(0));
}

export async function initPush(root = document.querySelector('[data-push]')) {
  if (!root || !root.dataset.pushKey) return;
  const on = root.querySelector('[data-push-on]');
  const off = root.querySelector('[data-push-off]');
  const state = root.querySelector('[data-push-state]');
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) {
    state.textContent = 'This browser cannot show notifications.';
    return;
  }
  let registration;
  let subscription;
  try {
    registration = await navigator.serviceWorker.register(root.dataset.pushWorkerUrl);
    subscription = await registration.pushManager.getSubscription();
  } catch {
    state.textContent = 'This browser cannot show notifications here.';
    return;
  }
  const show = () => {
    on.hidden = Boolean(subscription);
    off.hidden = !subscription;
  };
  show();

  on.addEventListener('click', async () => {
    try {
      if ((await Notification.requestPermission()) !== 'granted') {
        showAlert('Notifications are blocked for this site in your browser settings.', 'warning');
        return;
      }
      subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(root.dataset.pushKey),
      });
      await fetchJson(root.dataset.pushSubscribeUrl, {
        method: 'POST',
        json: subscription.toJSON(),
      });
      showAlert('This browser will show Ospost notifications.', 'success');
    } catch (error) {
      showAlert(error.message || 'Notifications could not be turned on.');
    }
    show();
  });

  off.addEventListener('click', async () => {
    try {
      await fetchJson(root.dataset.pushRemoveUrl, {
        method: 'POST',
        json: subscription.toJSON(),
      });
      await subscription.unsubscribe();
      subscription = null;
      showAlert('This browser will no longer show Ospost notifications.', 'success');
    } catch (error) {
      showAlert(error.message || 'Notifications could not be turned off.');
    }
    show();
  });
}
