"""The original LLaVA-1.5 "pad" preprocessing and transformers 5.23's LLaVA-1.5 image processor.

`expand2square` and the pad branch of `process_images` are transcribed from haotian-liu/LLaVA
`llava/mm_utils.py` @ 0f2e2150730e6b3ee37491ad6899a2ce69579a50 (unchanged in the repository's later
commits); there the image processor is the CLIPImageProcessor of openai/clip-vit-large-patch14-336.
"""

from __future__ import annotations

from reference_clip import clip_image_kwargs, clip_image_processor


def expand2square(pil_img, background_color):
    from PIL import Image

    width, height = pil_img.size
    if width == height:
        return pil_img
    elif width > height:
        result = Image.new(pil_img.mode, (width, width), background_color)
        result.paste(pil_img, (0, (width - height) // 2))
        return result
    else:
        result = Image.new(pil_img.mode, (height, height), background_color)
        result.paste(pil_img, ((height - width) // 2, 0))
        return result


def original_pad_pixel_values(images):
    """`process_images(images, image_processor, model_cfg)` with image_aspect_ratio == "pad", as numpy."""
    import numpy as np

    image_processor = clip_image_processor(336)
    out = []
    for image in images:
        image = expand2square(image, tuple(int(x * 255) for x in image_processor.image_mean))
        out.append(image_processor.preprocess(image, return_tensors="np")["pixel_values"][0])
    return np.stack(out)


def llava_image_processor(*, do_pad: bool = False):
    """LlavaImageProcessorPil with llava-hf/llava-1.5-7b-hf's preprocessor_config.json settings (its class
    defaults are 224); do_pad=True is the expand2square option."""
    from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil

    return LlavaImageProcessorPil(**clip_image_kwargs(336), do_pad=do_pad)
