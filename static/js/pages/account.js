// Account page: offer the browser's time zone when it differs from the saved
// one, and ask before deleting the account (its form has data-confirm).

import { confirmBeforeSubmit } from '../lib/forms.js';
import { initPush } from '../lib/push.js';

function offerBrowserZone() {
  const select = document.querySelector('[data-timezone-select]');
  const hint = document.querySelector('[data-browser-zone]');
  if (!select || !hint) return;
  let zone = '';
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  } catch {
    return;
  }
  const known = [...select.options].some((option) => option.value === zone);
  if (!zone || !known || zone === select.value) return;
  hint.querySelector('[data-browser-zone-name]').textContent = zone;
  hint.hidden = false;
  hint.querySelector('[data-use-browser-zone]').addEventListener('click', () => {
    select.value = zone;
    select.focus();
  });
}

confirmBeforeSubmit();
offerBrowserZone();
initPush();
