// polychat: play a spoken reply while it streams in, sentence by sentence, and ask
// the browser to cancel the reply's echo from the microphone.
//
// Chainlit's browser player (WavStreamPlayer, 16-bit PCM at 24 kHz) is only connected
// to the speakers when the microphone is switched on, so a typed message answered out
// loud would stream its sentences into a player with no audio output. This connects
// the player on the first sentence instead (the person has already used the page, so
// the browser lets it play), keeps the sentences in order while it connects, and makes
// connecting idempotent so switching the microphone on does not open a second output.
(function () {
  "use strict";

  function patch() {
    var Player = globalThis.WavStreamPlayer;
    if (!Player || !Player.prototype) {
      return false;
    }
    if (Player.prototype.polychatPatched) {
      return true;
    }
    var connect = Player.prototype.connect;
    var add16BitPCM = Player.prototype.add16BitPCM;

    Player.prototype.connect = function () {
      var player = this;
      if (!player.polychatConnected || (player.context && player.context.state === "closed")) {
        player.polychatConnected = Promise.resolve(connect.apply(player, arguments)).catch(function (error) {
          player.polychatConnected = null;
          throw error;
        });
      } else if (player.context && player.context.state === "suspended") {
        player.context.resume();
      }
      return player.polychatConnected;
    };

    Player.prototype.add16BitPCM = function (data, track) {
      var player = this;
      player.polychatQueue = (player.polychatQueue || Promise.resolve())
        .then(function () {
          return player.connect();
        })
        .then(function () {
          add16BitPCM.call(player, data, track);
        })
        .catch(function (error) {
          console.warn("polychat: could not play a spoken sentence", error);
        });
      return data;
    };

    Player.prototype.polychatPatched = true;
    return true;
  }

  // Hands-free, the microphone stays open while a reply plays (speaking over it
  // interrupts it): ask for the browser's echo cancellation explicitly, so the reply
  // coming out of the speakers is not heard as the person speaking.
  var media = navigator.mediaDevices;
  if (media && media.getUserMedia && !media.polychatPatched) {
    var getUserMedia = media.getUserMedia.bind(media);
    media.getUserMedia = function (constraints) {
      if (constraints && constraints.audio) {
        var audio = constraints.audio === true ? {} : Object.assign({}, constraints.audio);
        if (audio.echoCancellation === undefined) {
          audio.echoCancellation = true;
        }
        constraints = Object.assign({}, constraints, { audio: audio });
      }
      return getUserMedia(constraints);
    };
    media.polychatPatched = true;
  }

  if (!patch()) {
    // The app's module defines the player after this script runs: try again once it has.
    var tries = 0;
    var timer = setInterval(function () {
      tries += 1;
      if (patch() || tries > 600) {
        clearInterval(timer);
      }
    }, 50);
  }
})();
