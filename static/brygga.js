// Brygga's only script, a progressive enhancement: every page works without it.
// "Leave this page quickly": replace this page in the history, so that the back button does not
// return to it; pressing Escape three times does the same.
(function () {
  'use strict';
  var exit = document.getElementById('exit');
  if (!exit) { return; }
  function leave(event) {
    if (event) { event.preventDefault(); }
    window.location.replace(exit.getAttribute('href'));
  }
  exit.addEventListener('click', leave);
  var presses = 0;
  var timer = null;
  document.addEventListener('keydown', function (event) {
    if (event.key !== 'Escape') { return; }
    presses += 1;
    clearTimeout(timer);
    timer = setTimeout(function () { presses = 0; }, 1500);
    if (presses >= 3) { leave(); }
  });
}());
