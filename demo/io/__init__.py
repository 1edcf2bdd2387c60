"""Video in and out, and the plumbing around the models.

- :mod:`.video`: probing (:class:`VideoInfo`), decoding (:func:`read_frames`), H.264
  encoding (:class:`H264Writer`) and :class:`VideoMeta`, the video a result belongs to.
- :mod:`.background`: :class:`Prefetch` and :class:`BackgroundSink`, decoding and
  encoding in threads beside the models.
- :mod:`.timing`: :class:`StageTimes`, seconds per stage (``--profile``).
"""
