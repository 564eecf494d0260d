"""Tiny random-weight text-to-image pipelines and captioned folders, as the CPU example builds them."""

from adagen_agents.examples.text_to_image import captioned_folder, tiny_sd_pipeline, tiny_text_unet

__all__ = ["captioned_folder", "tiny_sd_pipeline", "tiny_text_unet"]
