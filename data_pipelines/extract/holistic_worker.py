"""MediaPipe holistic over one video or frame folder -> .npz (runs in the extract venv).

Standalone on purpose: it runs under the extraction venv's Python (mediapipe
0.10.21, numpy < 2, protobuf < 5), which cannot import the project. Invoked by
``mediapipe_extract.py``; arrays go back through the .npz it writes::

    mediapipe        float32 [T, 258]  33 pose x (x, y, z, visibility)
                                       + 21 left hand x (x, y, z) + 21 right hand x (x, y, z)
    mediapipe_parts  bool [T, 3]       pose / left hand / right hand found at frame t
    face_present     bool [T]          face mesh found (the face is not in the 258-d layout)
    fps, width, height                 of the input

x, y are MediaPipe's normalized image coordinates; parts not found are zeros.
"""

import argparse
import os
import re
import sys

import cv2
import numpy as np

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def frames_from_folder(folder):
    names = [n for n in os.listdir(folder) if n.lower().endswith(FRAME_SUFFIXES)]
    names.sort(key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)])
    for n in names:
        bgr = cv2.imread(os.path.join(folder, n), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"{os.path.join(folder, n)}: unreadable image")
        yield bgr


def frames_from_video(path):
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise SystemExit(f"{path}: OpenCV cannot open this video")
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        yield bgr
    cap.release()


def landmarks(lms, count, with_visibility):
    width = 4 if with_visibility else 3
    if lms is None:
        return np.zeros(count * width, np.float32), False
    rows = [
        (p.x, p.y, p.z, p.visibility) if with_visibility else (p.x, p.y, p.z) for p in lms.landmark
    ]
    return np.asarray(rows, np.float32).reshape(-1), True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model_complexity", type=int, default=1)
    ap.add_argument("--static", action="store_true", help="no tracking between frames")
    ap.add_argument("--max_frames", type=int, default=0)
    args = ap.parse_args()
    import mediapipe as mp

    if os.path.isdir(args.input):
        frames, fps = frames_from_folder(args.input), 0.0
    else:
        cap = cv2.VideoCapture(args.input)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        cap.release()
        frames = frames_from_video(args.input)
    rows, parts, faces, size = [], [], [], (0, 0)
    with mp.solutions.holistic.Holistic(
        static_image_mode=args.static,
        model_complexity=args.model_complexity,
        refine_face_landmarks=False,
    ) as holistic:
        for i, bgr in enumerate(frames):
            if args.max_frames and i >= args.max_frames:
                break
            size = bgr.shape[1], bgr.shape[0]
            res = holistic.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            pose, has_pose = landmarks(res.pose_landmarks, 33, True)
            lh, has_lh = landmarks(res.left_hand_landmarks, 21, False)
            rh, has_rh = landmarks(res.right_hand_landmarks, 21, False)
            rows.append(np.concatenate([pose, lh, rh]))
            parts.append((has_pose, has_lh, has_rh))
            faces.append(res.face_landmarks is not None)
    if not rows:
        raise SystemExit(f"{args.input}: no frames decoded")
    np.savez(
        args.out,
        mediapipe=np.stack(rows).astype(np.float32),
        mediapipe_parts=np.asarray(parts, bool),
        face_present=np.asarray(faces, bool),
        fps=np.float32(fps),
        width=np.int32(size[0]),
        height=np.int32(size[1]),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
