// The caseworkers' pages (/work, /work/cases/{id}), a progressive enhancement: without it the
// pages work by reloading. On a refused form it moves focus to the error summary. On /work it
// keeps the offers' countdowns ticking, and listens to the event stream (GET /api/v1/events,
// the same-origin cookie login) to fetch the live part of the page again
// (/work?fragment=live, with the page's queue filter) when the queue, an offer or a case
// changed, announcing it politely.
(function () {
  'use strict';
  // A refused form: take the keyboard (and a screen reader) to the summary of what to correct,
  // whose links lead to the fields.
  var summary = document.getElementById('error-summary');
  if (summary) { summary.focus(); }

  var live = document.getElementById('live');
  if (!live) { return; }
  var status = document.getElementById('live-status');

  function pad(n) { return n < 10 ? '0' + n : String(n); }

  // Each offer's time left, next to its expiry time (readable without the script).
  function tick() {
    var now = Date.now();
    var spans = live.querySelectorAll('.countdown[data-expires]');
    for (var i = 0; i < spans.length; i += 1) {
      var span = spans[i];
      var left = Math.floor((Date.parse(span.getAttribute('data-expires')) - now) / 1000);
      if (isNaN(left)) { continue; }
      if (left <= 0) {
        span.textContent = span.getAttribute('data-expired');
      } else {
        var minutes = Math.floor(left / 60);
        var hours = Math.floor(minutes / 60);
        var clock = hours > 0
          ? hours + ':' + pad(minutes % 60) + ':' + pad(left % 60)
          : minutes + ':' + pad(left % 60);
        span.textContent = '(' + span.getAttribute('data-left') + ' ' + clock + ')';
      }
    }
  }
  tick();
  setInterval(tick, 1000);

  if (!window.EventSource || !window.fetch) { return; }
  var url = live.getAttribute('data-fragment');
  var pending = null;
  var busy = false;
  var again = false;

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (response) {
        if (!response.ok) { throw new Error('status ' + response.status); }
        return response.text();
      })
      .then(function (html) {
        // Keep the keyboard where it was: the same control in the new content, by its id.
        var focused = document.activeElement;
        var focusId = focused && live.contains(focused) ? focused.id : null;
        var chosen = unapplied();
        live.innerHTML = html;
        Object.keys(chosen).forEach(function (id) {
          var select = document.getElementById(id);
          if (select) { select.value = chosen[id]; }
        });
        tick();
        if (focusId) {
          var target = document.getElementById(focusId);
          if (target) { target.focus(); }
        }
        if (status) {
          status.textContent = '';
          setTimeout(function () { status.textContent = status.getAttribute('data-updated'); }, 100);
        }
      })
      .catch(function () { /* The next event or a reload shows it. */ })
      .then(function () {
        busy = false;
        if (again) { again = false; schedule(); }
      });
  }

  // The queue filter's choices not yet applied (a select changed, the form not sent), by id:
  // a refresh of the lists must not undo what the caseworker is choosing.
  function unapplied() {
    var chosen = {};
    var selects = live.querySelectorAll('select[id]');
    for (var i = 0; i < selects.length; i += 1) {
      var select = selects[i];
      var applied = select.querySelector('option[selected]');
      var value = applied ? applied.value : (select.options.length ? select.options[0].value : '');
      if (select.value !== value) { chosen[select.id] = select.value; }
    }
    return chosen;
  }

  // Several events in a burst make one fetch.
  function schedule() {
    clearTimeout(pending);
    pending = setTimeout(refresh, 300);
  }

  var source = new EventSource('/api/v1/events');
  ['queue.changed', 'offer.created', 'offer.expired', 'case.updated', 'case.message'].forEach(function (name) {
    source.addEventListener(name, schedule);
  });
  // The login ended: stop listening (the next reload shows the login page).
  source.addEventListener('end', function () { source.close(); });
}());
