"""The three SignX stages as Flax NNX modules (paper sections 3-4).

* ``Pose2Gloss``  stage 1: fusion ViT defining z_latent + CodeBook decoder;
* ``Video2Pose``  stage 2: RGB -> five pose streams; ``video_to_latent``;
  ``Video2PoseModel`` pairs it with the frozen stage 1 for training;
* ``CSLR``        stage 3: recognition in the latent space; ``IsolatedHead``;
* ``Sign2Text``   stage 3 on spoken-language targets (``sign2text.py``).

Sizes and variants: ``configs/models.py``. Sharding: ``signx_jax/sharding.py``.
"""

from signx_jax.models.cslr import CSLR, FeatureCompiler, IsolatedHead
from signx_jax.models.pose2gloss import Pose2Gloss
from signx_jax.models.video2pose import Video2Pose, video_to_latent

__all__ = ["CSLR", "FeatureCompiler", "IsolatedHead", "Pose2Gloss", "Video2Pose", "video_to_latent"]
