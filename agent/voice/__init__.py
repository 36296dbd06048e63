"""Live voice, shared by every face that listens (the browser's microphone, ``polychat talk``).

``vad``: voice activity detection, cutting a PCM stream into utterances.
"""
