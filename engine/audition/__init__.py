"""The layout's audition: the measured sources separated, and the boxes re-rendered as spatial sound.

``separate`` cuts one signal per measured source out of the recording; ``spatial`` places each box's
sound where the box stands, so a person can hear whether a layout still agrees with the recording.
"""
