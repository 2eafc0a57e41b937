// New post page: pick and crop the image, write the caption with live counters,
// choose the date, and upload with a progress bar (see lib/postForm.js).

import { setupPostForm } from '../lib/postForm.js';

const form = document.querySelector('[data-post-form]');
if (form) setupPostForm(form);
