"""Saved episodes and replay (no Qt here).

- `recorder.EpisodeRecorder`: trainer hook writing each recorded episode's sidecar (policy outputs per step)
  next to its .bk2 and indexing it (`episode_index`: by level, return, best / worst / latest).
- `reader.EpisodeReader`: random access to any frame of a .bk2 (emulator snapshots make seeks short).
- `frame_server.ReplayProcess`: a reader in its own process, for the GUI.
- `export.export_video`: MP4 / GIF, optionally with the probability overlay.
- `start_states`: save a replay frame as a new start state (a custom integration); the shipped Airstriker ones.
"""
