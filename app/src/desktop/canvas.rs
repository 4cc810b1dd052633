//! Drawing decoded desktop regions on a `<canvas>` the size of the desktop (CSS scales it).

use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

use super::decoder::{copy_opaque, Decoder, Rect};

pub struct Canvas {
    el: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    scratch: Vec<u8>,
}

impl Canvas {
    pub fn new(el: HtmlCanvasElement) -> Result<Canvas, String> {
        let ctx = el
            .get_context("2d")
            .map_err(|e| format!("{e:?}"))?
            .ok_or("this browser has no 2D canvas")?
            .dyn_into::<CanvasRenderingContext2d>()
            .map_err(|_| "unexpected canvas context".to_string())?;
        Ok(Canvas {
            el,
            ctx,
            scratch: Vec::new(),
        })
    }

    pub fn element(&self) -> &HtmlCanvasElement {
        &self.el
    }

    /// Sizes the canvas to the desktop (a no-op when unchanged: resizing clears it).
    pub fn resize(&self, width: u16, height: u16) {
        if self.el.width() != u32::from(width) || self.el.height() != u32::from(height) {
            self.el.set_width(u32::from(width));
            self.el.set_height(u32::from(height));
        }
    }

    /// Copies `rects` of the decoder's image onto the canvas (alpha forced opaque).
    pub fn draw(&mut self, dec: &Decoder, rects: &[Rect]) {
        self.resize(dec.width(), dec.height());
        for r in rects {
            copy_opaque(dec.rgba(), dec.width(), *r, &mut self.scratch);
            let Ok(img) = ImageData::new_with_u8_clamped_array_and_sh(
                Clamped(&self.scratch),
                u32::from(r.w),
                u32::from(r.h),
            ) else {
                continue;
            };
            let _ = self
                .ctx
                .put_image_data(&img, f64::from(r.x), f64::from(r.y));
        }
    }
}
