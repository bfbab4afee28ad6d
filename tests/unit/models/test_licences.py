"""core.models.hub_cfg's licence table: what timm's pretrained cfgs state, noted once per environment and read
without importing timm (the candidates' shortlist shows it)."""

from __future__ import annotations

from core.models import hub_cfg


def test_licences_are_timms_own_and_read_back_from_the_environment_file(tmp_path, monkeypatch):
    import timm.models

    monkeypatch.setattr(hub_cfg, "environment_path", lambda: tmp_path / "share" / "hub_cfgs.json")
    assert hub_cfg.licences() == {}  # not noted yet: every licence shows as unknown
    assert "licences of" in hub_cfg._save_licences()
    found = hub_cfg.licences()
    for name in ("resnet50.a1_in1k", "convnext_base.fb_in22k_ft_in1k", "vit_base_patch16_clip_224.openai_ft_in1k"):
        assert found[name] == timm.models.get_pretrained_cfg(name).license
    assert len(found) > 1000 and (tmp_path / "share" / hub_cfg.LICENCES_FILE).is_file()
