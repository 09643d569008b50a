"""Rendering a layout to a video: the request every generator takes, the animatic, the video writer."""
