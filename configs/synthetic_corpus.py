"""Config of the embedded synthetic signing corpus (README "Design").

Generate the default demo corpus (built-in grammar, 720 clips, ~30 s on 2 cores)::

  python -m data_pipelines.synthetic generate --out /tmp/signx_synth
  python -m data_pipelines.synthetic generate --out /tmp/signx_synth \
      --config=configs/synthetic_corpus.py:tiny --config.num_train=64

Text side from real annotations (vocabulary, sentence lengths, gloss frequencies
and sentence repetition of PHOENIX-2014T, shipped; part of train is held out as
test), optionally cut to its K most frequent glosses::

  python -m data_pipelines.synthetic generate --out /tmp/synth_phx --glosses phoenix2014t
  python -m data_pipelines.synthetic generate --out /tmp/synth_phx60 --glosses phoenix2014t \
      --config.top_glosses=60

``arg`` selects a preset: ``None``/``"default"`` (demo), ``"tiny"`` (tests and
laptops), ``"phoenix2014t"`` (the real text side, every sentence, poses only;
add ``--config.rgb=True`` for frames). With ``--glosses`` and the default
preset, the first num_train / num_dev / num_test sentences are used.
"""

from __future__ import annotations

import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    """Generator config; see the module docstring for the presets."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.dataset = "synthetic"

    # --- text side --------------------------------------------------------
    # "" = built-in grammar; "phoenix2014t" (the PHOENIX-2014T train / dev gloss
    # text shipped in data_pipelines/synthetic/text); or "train=A.stm,dev=B.stm,test=C.stm".
    c.glosses = ""
    # Where the "phoenix2014t" shortcut looks instead of the shipped copy ("": shipped).
    c.reference_dir = ""
    c.heldout_test_fraction = 0.1  # of the train STM, when no test STM is given
    # Vocabulary size of an STM text side: its K most frequent train glosses (others
    # left out of each sentence; 0 = every gloss). Sentences keep their repetition.
    c.top_glosses = 0
    c.min_sentence_glosses = 2  # built-in grammar; with top_glosses, shorter sentences go
    c.max_sentence_glosses = 6  # built-in grammar only
    # STM text side: split s takes the text_window-th run of num_s sentences (after
    # top_glosses; 0 = the first), so window 1 is a corpus of text the default never
    # shows (the corpus ladder's "unseen" rung).
    c.text_window = 0
    # Clips per split; -1 = one clip per STM sentence (built-in grammar: required > 0).
    c.num_train = 600
    # 200 sentences each (about 660 glosses): the sd of a test WER near 30 % is then
    # about 1.8 points; with 60 it was about 3.2, more than the seeds' own spread.
    c.num_dev = 200
    c.num_test = 200

    # --- signers (disjoint across splits) ---------------------------------
    # Many signers with a few clips each: Video2Pose must generalise to unseen
    # signers (colours, proportions), and 8 train signers were far too few: a
    # ridge probe from pixels to body keypoints went from dev R^2 -2.4 (8
    # signers) to +0.66 (150), at train R^2 ~0.95 both times.
    c.num_signers = ml_collections.ConfigDict({"train": 150, "dev": 4, "test": 4})
    c.body_scale_sigma = 0.05  # log-normal sd of overall body size
    c.limb_sigma = 0.06  # log-normal sd of each limb / width / head factor
    c.signer_speed_sigma = 0.12  # log-normal sd of a signer's signing speed
    c.clip_speed_sigma = 0.08  # ... of one clip relative to its signer
    c.sign_speed_sigma = 0.06  # ... of one sign inside a clip
    c.amplitude_sigma = 0.10  # log-normal sd of movement size (signer x clip)
    c.location_sigma = 0.015  # metres: a signer's personal signing-space shift

    # --- timing (frames) --------------------------------------------------
    c.fps = 25.0
    c.min_sign_frames = 6  # nominal prototype duration range
    c.max_sign_frames = 20
    c.min_transition_frames = 3  # co-articulation between two signs
    c.max_transition_frames = 6
    c.min_rest_frames = 2  # rest pose held before / after the sentence
    c.max_rest_frames = 5
    c.rest_transition_frames = 8  # rest pose <-> first / last sign
    c.coarticulation_sigma = 1.0  # Gaussian smoothing (frames) blending sign edges
    c.tremor_sigma = 0.004  # metres of slow articulator wobble per frame

    # --- observation noise (image-normalised units unless noted) ---------
    c.noise = ml_collections.ConfigDict(
        {
            "dwpose": 0.004,
            "mediapipe": 0.005,
            "smplerx": 0.03,  # radians
            "primedepth": 0.02,
            "sapiens_flip": 0.02,  # fraction of segmentation pixels relabelled
            "rgb": 6.0,  # uint8 levels
            "camera_shift": 0.02,  # per clip framing jitter
            "camera_scale_sigma": 0.04,
        }
    )
    c.p_drop_frame = 0.02  # whole frame lost by every estimator
    c.p_occlude_hand = 0.15  # chance per clip and hand of an occlusion window
    c.max_occlusion_frames = 8
    c.p_stream_missing = 0.02  # a whole stream absent from a clip

    # --- rendering ---------------------------------------------------------
    c.rgb = True
    c.image_size = 64  # RGB frames are image_size x image_size x 3
    c.camera_scale = 1.0  # image widths per metre
    c.camera_center_y = -0.03  # metres above the neck at the image centre
    c.num_parts = 10  # segmentation classes incl. background (sapiens value = id / num_parts)

    # --- execution ---------------------------------------------------------
    c.num_workers = 0  # 0 = all cores; 1 = in this process
    c.chunksize = 8
    c.progress = True

    if arg in (None, "", "default"):
        return c
    if arg == "tiny":
        c.num_train, c.num_dev, c.num_test = 24, 6, 6
        c.num_signers = ml_collections.ConfigDict({"train": 3, "dev": 1, "test": 1})
        c.image_size = 32
        c.num_workers = 1
        c.progress = False
        return c
    if arg == "phoenix2014t":
        c.glosses = "phoenix2014t"
        c.dataset = "synthetic_phoenix2014t"
        c.num_train, c.num_dev, c.num_test = -1, -1, -1
        c.rgb = False  # ~7,600 clips of ~170 frames: RGB would take ~15 GB
        return c
    raise ValueError(f"configs/synthetic_corpus.py: unknown preset {arg!r}")
