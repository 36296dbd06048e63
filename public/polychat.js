// polychat: play a spoken reply while it streams in, sentence by sentence.
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
