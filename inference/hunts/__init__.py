""" "Find it!" hunts: a list of words to find with the camera, one at a time, each found only
when the detector has seen it steadily (`steadiness`), with the hunt's progress (`hunt`)."""
