"""Live voice, shared by every face that listens (the browser's microphone, ``polychat talk``).

``vad``: voice activity detection, cutting a PCM stream into utterances (with pause,
resumed and ended events, and a grace window that keeps a paused sentence whole).
``incremental``: transcribing an utterance piece by piece while it is spoken.
``bench``: incremental against one-shot transcription, timed and scored.
"""
