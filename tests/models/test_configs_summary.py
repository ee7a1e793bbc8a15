"""configs/models.py presets and the summary table."""

import pytest

from configs import models as mc
from signx_jax.models.summary import stage_table


def test_base_is_the_paper():
    c = mc.cslr_config("base")
    assert (c.latent_dim, c.temporal_width, c.lstm_hidden, c.lstm_layers) == (2048, 1024, 512, 2)
    assert (c.width, c.enc_layers, c.dec_layers, c.mlp, c.heads) == (256, 6, 6, 4096, 4)
    assert tuple(c.conv_kernels) == (3, 5, 7) and tuple(c.teacher_blocks) == (3, 4, 6, 3)
    assert (c.dropout_attn, c.dropout_act, c.dropout_res) == (0.3, 0.5, 0.4)
    assert mc.pose2gloss_config("base").latent_dim == 2048


@pytest.mark.parametrize("size", [*mc.SIZES, *mc.LADDER])
def test_latent_dims_agree_across_stages(size):
    assert mc.pose2gloss_config(size).latent_dim == mc.cslr_config(size).latent_dim


def test_variants_and_errors():
    assert len(mc.LADDER) >= 5
    vac = mc.cslr_config("base", "vac_baseline")
    assert tuple(vac.conv_kernels) == (5,) and vac.conv_padding == "valid"
    assert not (vac.use_transformer or vac.use_distillation or vac.use_decoder)
    assert not mc.cslr_config("tiny", "no_pruning").use_pruning
    assert tuple(mc.cslr_config("tiny", "single_scale_conv").conv_kernels) == (5,)
    with pytest.raises(ValueError, match="unknown size"):
        mc.cslr_config("huge")
    with pytest.raises(ValueError, match="unknown CSLR variant"):
        mc.cslr_config("tiny", "nope")


def test_summary_rows_add_up():
    rows = stage_table("cslr", "tiny", frames=16, tokens=4, vocab=12)
    total = rows[-1]
    assert total[0] == "total" and total[2] > 0
    assert sum(r[1] for r in rows[:-1]) == total[1]
